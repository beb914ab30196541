"""The demo clinics that `seed_demo` creates. Synthetic people only."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP

from accounts import services
from clinic.models import TREATING_ROLES, AuthenticatorDevice, Clinic, Membership, Role, User
from clinic.tenancy import clinic_context
from patients import services as patient_services
from patients.vocab import FacialArea, TreatmentType

DEMO_PASSWORD = "demo-clinic-2026"

DEMO_CLINICS = [
    (
        "harbour",
        "Harbour Aesthetics",
        [
            ("amelia.admin@harbour.example", "Amelia Hart", Role.ADMIN),
            ("nadia.nurse@harbour.example", "Nadia Okafor", Role.PRACTITIONER),
            ("ruby.reception@harbour.example", "Ruby Chen", Role.RECEPTION),
            ("leo.locum@example.org", "Dr Leo Marsh", Role.PRACTITIONER),
        ],
    ),
    (
        "northgate",
        "Northgate Skin Clinic",
        [
            ("omar.admin@northgate.example", "Omar Siddiqui", Role.ADMIN),
            ("leo.locum@example.org", "Dr Leo Marsh", Role.PRACTITIONER),
        ],
    ),
]

FIRST = [
    "Olivia",
    "Amara",
    "Sophie",
    "Grace",
    "Isla",
    "Priya",
    "Hannah",
    "Chloe",
    "Zara",
    "Emily",
    "Lucy",
    "Megan",
    "Aisha",
    "Ella",
    "Freya",
    "Jade",
    "Holly",
    "Kate",
    "Maya",
    "Rosa",
    "James",
    "Daniel",
    "Tom",
    "Samir",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Patel",
    "Khan",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Green",
    "Hall",
    "Clarke",
    "Hughes",
    "Lewis",
    "Morgan",
    "Price",
    "O'Neill",
    "Ahmed",
    "Campbell",
    "Fraser",
]
PRODUCTS = {
    TreatmentType.TOXIN: ["Botox 50u", "Azzalure 125u", "Bocouture 50u"],
    TreatmentType.FILLER: ["Juvederm Volbella 1ml", "Restylane Kysse 1ml", "Teosyal RHA 2 1ml"],
    TreatmentType.SKIN_BOOSTER: ["Profhilo 2ml", "Seventy Hyal 2000"],
    TreatmentType.PEEL: ["Obagi Blue Peel", "PRX-T33"],
}
AREAS_FOR = {
    TreatmentType.TOXIN: [FacialArea.FOREHEAD, FacialArea.GLABELLA, FacialArea.CROWS_FEET],
    TreatmentType.FILLER: [
        FacialArea.LIPS,
        FacialArea.CHEEKS,
        FacialArea.NASOLABIAL,
        FacialArea.CHIN,
        FacialArea.TEAR_TROUGH,
    ],
    TreatmentType.SKIN_BOOSTER: [FacialArea.FULL_FACE, FacialArea.NECK],
    TreatmentType.PEEL: [FacialArea.FULL_FACE],
}


def demo_totp_key(email: str) -> str:
    """A fixed TOTP key per demo user, so `demo_code` can print today's code."""
    return hashlib.sha256(f"clinic-photos-demo:{email}".encode()).hexdigest()[:40]


def demo_code(email: str) -> str:
    """The current 6-digit code of a demo user's authenticator."""
    totp = TOTP(bytes.fromhex(demo_totp_key(email)))
    return f"{totp.token():06d}"


def _user(email: str, name: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, DEMO_PASSWORD, full_name=name)
        AuthenticatorDevice.objects.create_for(
            user=user,
            name="Demo authenticator",
            confirmed=True,
            key=bytes.fromhex(demo_totp_key(email)),
        )
        services.backup_codes_issue(user=user)
    return user


@transaction.atomic
def seed(patients_per_clinic: int = 36, rng_seed: int = 7) -> list[Clinic]:
    """Create the demo clinics, staff, patients and treatments (once; later calls no-op)."""
    rng = random.Random(rng_seed)
    clinics = []
    for slug, name, staff in DEMO_CLINICS:
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is not None:
            clinics.append(clinic)
            continue
        first_email, first_name, _ = staff[0]
        clinic = services.clinic_create(name=name, slug=slug, admin=_user(first_email, first_name))
        clinics.append(clinic)
        with clinic_context(clinic.id):
            for email, full_name, role in staff[1:]:
                Membership.objects.create(clinic=clinic, user=_user(email, full_name), role=role)
            practitioners = [
                m.user
                for m in Membership.objects.filter(clinic=clinic).select_related("user")
                if m.role in TREATING_ROLES
            ]
            admin = practitioners[0]
            today = timezone.localdate()
            for i in range(patients_per_clinic):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                dob = date(rng.randint(1958, 2004), rng.randint(1, 12), rng.randint(1, 28))
                patient = patient_services.patient_create(
                    clinic=clinic,
                    by=admin,
                    first_name=first,
                    last_name=last,
                    date_of_birth=dob,
                    email=f"{first}.{last}.{i}@patients.example".lower().replace("'", ""),
                    phone=f"07700 9{rng.randint(0, 99999):05d}",
                    notes="",
                )
                # The first patient always has a treatment, for the photos below to attach to.
                for _ in range(max(rng.randint(0, 3), 1 if i == 0 else 0)):
                    kind = rng.choice(list(PRODUCTS))
                    patient_services.episode_create(
                        clinic=clinic,
                        patient=patient,
                        by=admin,
                        treatment_type=kind,
                        areas=sorted(rng.sample(AREAS_FOR[kind], k=min(2, len(AREAS_FOR[kind])))),
                        performed_on=today - timedelta(days=rng.randint(1, 700)),
                        practitioner=rng.choice(practitioners),
                        product=rng.choice(PRODUCTS[kind]),
                        batch_number=f"{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}",
                    )
                if i < DEMO_PHOTO_PATIENTS:
                    _seed_photos_and_consent(clinic, patient, admin, rng, i)
            _seed_retention_cases(clinic, admin, _user(first_email, first_name), rng)
    return clinics


# Two records for the retention page: one past the clinic's retention period (with photos and
# a signed consent, so an erasure has something to erase) and one as old but under a hold.
RETENTION_CASES = [
    ("Margaret", "Ellison", date(1961, 5, 9), "", 9),
    ("Daniel", "Reyes", date(1974, 11, 2), "Complaint about bruising after filler, still open", 9),
]


def _seed_retention_cases(clinic: Clinic, by: User, clinic_admin: User, rng: random.Random) -> None:
    from retention import services as retention_services

    today = timezone.localdate()
    for number, (first, last, dob, hold_reason, years_ago) in enumerate(RETENTION_CASES):
        patient = patient_services.patient_create(
            clinic=clinic,
            by=by,
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            email=f"{first}.{last}@patients.example".lower(),
            phone=f"07700 8{rng.randint(0, 99999):05d}",
            notes="",
        )
        patient_services.episode_create(
            clinic=clinic,
            patient=patient,
            by=by,
            treatment_type=TreatmentType.FILLER,
            areas=[FacialArea.LIPS],
            performed_on=today.replace(year=today.year - years_ago) - timedelta(days=40),
            practitioner=by,
            product=PRODUCTS[TreatmentType.FILLER][0],
            batch_number=f"R{rng.randint(1000, 9999)}",
        )
        _seed_photos_and_consent(clinic, patient, by, rng, 20 + number)
        if hold_reason:
            retention_services.hold_place(clinic=clinic, patient=patient, by=by, reason=hold_reason)


DEMO_PHOTO_PATIENTS = 8


# How far the drawn features move sideways for each camera angle (a turned head).
VIEW_TURN = {"front": 0, "left_45": -70, "right_45": 70, "left_90": -140, "right_90": 140}


def synthetic_face(seed: int, after: bool = False, view: str = "front") -> bytes:
    """A drawn, clearly synthetic face (no real person), as a JPEG a phone might send."""
    import io

    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    width, height = 900, 1200
    image = Image.new("RGB", (width, height), (214, 222, 228))
    draw = ImageDraw.Draw(image)
    skin = rng.choice([(236, 200, 172), (208, 160, 122), (164, 112, 80), (112, 76, 56)])
    turn = VIEW_TURN.get(view, 0)
    narrow = abs(turn) // 2
    draw.ellipse((190 + narrow, 180, 710 - narrow, 900), fill=skin)
    draw.rectangle((370, 860, 530, 1200), fill=skin)
    for x in (330 + turn, 570 + turn):
        if abs(turn) >= VIEW_TURN["right_90"] and not 190 + narrow <= x - 45 <= 620 - narrow:
            continue  # the far eye, hidden in profile
        draw.ellipse((x - 45, 450, x + 45, 500), fill=(250, 250, 250))
        draw.ellipse((x - 18, 457, x + 18, 493), fill=(60, 70, 80))
        brow_y = 410 if after else 420
        draw.line(
            (x - 60, brow_y + (0 if after else 12), x + 60, brow_y), fill=(70, 50, 40), width=9
        )
    nose = 450 + turn
    draw.line(
        (nose, 500, nose - 20, 640, nose + 20, 650), fill=tuple(c - 40 for c in skin), width=6
    )
    lip = (176, 86, 96)
    fullness = 34 if after else 22
    mouth = 450 + turn
    draw.ellipse((mouth - 80, 710 - fullness, mouth + 80, 710 + fullness), fill=lip)
    draw.line((mouth - 78, 710, mouth + 78, 710), fill=(120, 50, 60), width=3)
    if not after:
        for y in (330, 350, 370):
            left, right = max(330 + turn, 210 + narrow), min(570 + turn, 690 - narrow)
            draw.line((left, y, right, y), fill=tuple(c - 18 for c in skin), width=2)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def _seed_photos_and_consent(
    clinic: Clinic, patient, by: User, rng: random.Random, index: int
) -> None:
    from consent import services as consent_services
    from photos import services as photo_services

    episode = patient.episodes.order_by("performed_on").first()
    if episode is None:
        return
    area = (episode.areas or ["full_face"])[0]
    # The first patient has a full set of angles: a patient page with a grid of thumbnails.
    views = list(VIEW_TURN) if index == 0 else ["front"]
    for after in (False, True):
        taken = timezone.make_aware(
            datetime.combine(
                episode.performed_on + timedelta(days=14 if after else 0), time(10, 30)
            )
        )
        for number, view in enumerate(views):
            photo = photo_services.photo_accept(
                clinic=clinic,
                patient=patient,
                by=by,
                details=photo_services.PhotoDetails(
                    episode=episode,
                    stage="after" if after else "before",
                    area=area,
                    view=view,
                    taken_at=taken + timedelta(minutes=number),
                ),
                filename=f"IMG_{1000 + index * 20 + after * 10 + number}.jpg",
                data=synthetic_face(index, after=after, view=view),
            )
            photo_services.photo_process(clinic_id=clinic.id, photo_id=photo.id)
    uses = ["clinical_record"] + rng.sample(
        ["website", "social_media", "print", "training"], k=rng.randint(0, 3)
    )
    request = consent_services.request_send(clinic=clinic, patient=patient, by=by)
    consent_services.consent_sign(
        consent_request=request,
        signature=consent_services.Signature(
            typed_name=patient.full_name, uses_granted=uses, signature_png=_drawn_signature(rng)
        ),
    )
    marketing = [u for u in ("social_media", "website") if u in uses]
    if marketing:
        photo = patient.photos.filter(stage="after").first()
        consent_services.marketing_add(clinic=clinic, photo=photo, use=marketing[0], by=by)


def _drawn_signature(rng: random.Random) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    points = [(20 + i * 40, 110 - rng.randint(0, 70)) for i in range(12)]
    ImageDraw.Draw(image).line(points, fill=(16, 35, 63, 255), width=4, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def login_help() -> str:
    lines = [
        "Demo clinics are ready. Sign in at " + settings.SITE_URL + "/login/ with:",
        "",
    ]
    clinics_of: dict[str, list[str]] = {}
    roles: dict[str, str] = {}
    for _slug, name, staff in DEMO_CLINICS:
        for email, _full, role in staff:
            clinics_of.setdefault(email, []).append(name)
            roles.setdefault(email, role.label)
    for email, names in clinics_of.items():
        lines.append(f"  {email:34} {roles[email]:13} ({' and '.join(names)})")
    lines += [
        "",
        f"Password for every demo account: {DEMO_PASSWORD}",
        "Two-factor code: run  .venv/bin/python manage.py demo_code EMAIL  for the current code,",
        "or add the demo key to an authenticator app:  manage.py demo_code EMAIL --key",
    ]
    return "\n".join(lines)
