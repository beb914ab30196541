"""A clinic chain's ten years of records, loaded fast (``python manage.py seed_scale``).

Several clinics share the volumes (the first, "scale-0", about 40 % of them), each with a
team whose sign-in works like the demo's (the demo password, codes from
``demo_code``). Patients, episodes, photos with their three encrypted objects' rows, signed
consents and the audit chains go in by COPY (``demo/copy.py``), in minutes.

What is real and what is shared, to keep the run short:

- Every object row has its own data key, really wrapped under the clinic's key.
- Stored bytes: the photos of the patients the benchmarks and the load test open (the
  patients with 200 and 20 photos, and the first ``objects_for`` patients of each clinic)
  have real encrypted objects in the bucket (one small synthetic face, its renditions, and a
  signature, encrypted under each object's own key). The others' rows point at objects that
  were never written (their pages list them; a thumbnail answers as a missing object does):
  writing three million objects would take hours and tell nothing about the database.
- Audit chains are valid: each event is hashed in order, exactly as ``audit.services.record``
  does, so ``verify_audit`` passes (``audit_checkpoint`` afterwards signs their heads; it
  verifies every chain first, so it is left to the operator).
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, HASH_FORMAT, AuditEvent
from clinic.models import AuthenticatorDevice, Clinic, Membership, Role, User
from clinic.tenancy import clinic_context
from consent.models import ConsentRecord, ConsentRequest
from demo.copy import copy_rows
from demo.seed import (
    AREAS_FOR,
    DEMO_PASSWORD,
    FIRST,
    LAST,
    PRODUCTS,
    demo_totp_key,
    synthetic_face,
)
from patients.models import Patient, TreatmentEpisode, normalise_name, phone_digits
from photos.models import BlobPurpose, Photo, PhotoStatus, Stage, View
from vault import keys, storage
from vault.crypto import new_data_key
from vault.models import Blob

SHARES = (0.4, 0.3, 0.2, 0.1)  # the chain's clinics, largest first
STAFF_PER_CLINIC = 12
BIG_PATIENT_PHOTOS = 200
SMALL_PATIENT_PHOTOS = 20
EVENT_ACTIONS = (
    ("photo.thumbnail_viewed", "photos.photo", 0.45),
    ("patient.viewed", "patients.patient", 0.25),
    ("photo.viewed", "photos.photo", 0.15),
    ("patient.search", "", 0.08),
    ("photo.accepted", "photos.photo", 0.05),
    ("consent.signed", "consent.consentrecord", 0.02),
)
VIEWS = [View.FRONT, View.LEFT_45, View.RIGHT_45, View.LEFT_90, View.RIGHT_90]
USER_AGENT = "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"


@dataclass
class ClinicPlan:
    clinic: Clinic
    staff: list[User]
    patients: int
    photos: int
    events: int
    patient_ids: list[uuid.UUID] = field(default_factory=list)
    photo_ids: list[uuid.UUID] = field(default_factory=list)
    photo_patients: list[uuid.UUID] = field(default_factory=list)


class SeedRefused(Exception):
    pass


def _check_connection() -> None:
    from django.conf import settings

    if connection.vendor != "postgresql":
        raise SeedRefused("seed_scale loads PostgreSQL with COPY; DATABASE_URL is not PostgreSQL.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        user = cursor.fetchone()[0]
    if settings.DATABASE_APP_ROLE and user == settings.DATABASE_APP_ROLE:
        raise SeedRefused(
            "seed_scale writes with COPY, which row-level security refuses to the app role: run "
            "it with DATABASE_URL pointing at the owner role, as migrate is."
        )


def _split(total: int, shares=SHARES) -> list[int]:
    parts = [int(total * s) for s in shares]
    parts[0] += total - sum(parts)
    return parts


class _Objects:
    """The small real files the opened patients' objects are made from (encrypted per row)."""

    def __init__(self) -> None:
        from PIL import Image

        face = synthetic_face(3)
        image = Image.open(io.BytesIO(face))
        self.original = face
        self.display = _jpeg(image, 600)
        self.thumb = _jpeg(image, 200)
        self.signature = _png_line()
        self.sha256 = hashlib.sha256(face).hexdigest()


def _jpeg(image, side: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=80)
    return out.getvalue()


def _png_line() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).line((10, 60, 80, 20, 160, 55, 230, 25), fill=(16, 35, 63), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _blob_row(clinic_id, purpose: str, size: int, data: bytes | None, written: list, wrap) -> dict:
    """A blob row with its own wrapped data key; with ``data``, its real object is written."""
    blob_id = uuid.uuid4()
    if data is not None:
        blob, ciphertext = storage.blob_seal(
            clinic_id=clinic_id, purpose=purpose, data=data, blob_id=blob_id, wrap=wrap
        )
        storage.blob_write_new(blob, ciphertext)
        written.append(blob.id)
        return {
            "id": blob.id,
            "clinic_id": clinic_id,
            "purpose": purpose,
            "key_version": blob.key_version,
            "wrapped_key": blob.wrapped_key,
            "size": len(data),
        }
    version, wrapped = wrap(blob_id, new_data_key())
    return {
        "id": blob_id,
        "clinic_id": clinic_id,
        "purpose": purpose,
        "key_version": version,
        "wrapped_key": wrapped,
        "size": size,
    }


def _staff(email: str, name: str, password_hash: str) -> User:
    """A staff member who signs in like the demo's: the shared password, a demo TOTP key."""
    user = User.objects.create(email=email, full_name=name, password=password_hash)
    AuthenticatorDevice.objects.create_for(
        user=user,
        name="Demo authenticator",
        confirmed=True,
        key=bytes.fromhex(demo_totp_key(email)),
    )
    return user


def _when(rng: random.Random, start: datetime, days: int) -> datetime:
    return start + timedelta(seconds=rng.randrange(days * 86400))


def _load_clinic(plan: ClinicPlan, objects: _Objects, objects_for: int, rng: random.Random):
    """Patients, episodes, photos and their blobs, consents: one clinic, by COPY."""
    clinic = plan.clinic
    now = timezone.now()
    ten_years_ago = now - timedelta(days=3650)
    staff = plan.staff
    written: list[uuid.UUID] = []
    wrap = keys.data_key_wrapper(clinic.id)
    from consent import services as consent_services

    template = consent_services.template_current(clinic=clinic)
    text = template.text_shown()
    text_sha = hashlib.sha256(text.encode()).hexdigest()

    # Photos per patient: the two the benchmarks open first, the rest spread unevenly.
    counts = [BIG_PATIENT_PHOTOS, SMALL_PATIENT_PHOTOS] if plan.clinic.slug == "scale-0" else []
    rest = max(0, plan.photos - sum(counts))
    others = plan.patients - len(counts)
    base = rest // max(1, others)
    extra = rest - base * others
    counts += [base + (1 if i < extra else 0) for i in range(others)]

    patients, episodes, photos, blobs, requests, records = [], [], [], [], [], []
    for i, n_photos in enumerate(counts):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if i < 2 and counts[0] == BIG_PATIENT_PHOTOS:
            first, last = ("Twohundred", "Photos") if i == 0 else ("Twenty", "Photos")
        dob = date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
        phone = f"07700 9{rng.randint(0, 99999):05d}"
        pid = uuid.uuid4()
        created = _when(rng, ten_years_ago, 3000)
        patients.append(
            {
                "id": pid,
                "clinic_id": clinic.id,
                "first_name": first,
                "last_name": last,
                "date_of_birth": dob,
                "email": f"{first}.{last}.{i}@patients.example".lower().replace("'", ""),
                "phone": phone,
                "search_name": normalise_name(f"{first} {last}"),
                "search_phone": phone_digits(phone),
                "created_at": created,
                "updated_at": created,
                "created_by_id": staff[0].pk,
            }
        )
        plan.patient_ids.append(pid)
        real = i < max(objects_for, 2)
        # Episodes: one per up to 8 photos, each on its own date.
        n_episodes = max(1, -(-n_photos // 8))
        episode_rows: list[dict[str, Any]] = []
        for _ in range(n_episodes):
            kind = rng.choice(list(PRODUCTS))
            performed = created.date() + timedelta(days=rng.randrange(max(1, (now - created).days)))
            episode_rows.append(
                {
                    "id": uuid.uuid4(),
                    "clinic_id": clinic.id,
                    "patient_id": pid,
                    "treatment_type": kind,
                    "areas": sorted(rng.sample(AREAS_FOR[kind], k=min(2, len(AREAS_FOR[kind])))),
                    "performed_on": performed,
                    "practitioner_id": rng.choice(staff).pk,
                    "product": rng.choice(PRODUCTS[kind]),
                    "batch_number": f"{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}",
                }
            )
        episodes.extend(episode_rows)
        for n in range(n_photos):
            episode = episode_rows[n % n_episodes]
            stage = (Stage.BEFORE, Stage.AFTER, Stage.FOLLOW_UP)[(n // len(VIEWS)) % 3]
            taken = datetime.combine(episode["performed_on"], datetime.min.time(), now.tzinfo)
            taken += timedelta(days=(0, 14, 90)[(n // len(VIEWS)) % 3], minutes=n)
            original = _blob_row(
                clinic.id,
                BlobPurpose.ORIGINAL,
                2_400_000,
                objects.original if real else None,
                written,
                wrap,
            )
            display = _blob_row(
                clinic.id,
                BlobPurpose.DISPLAY,
                300_000,
                objects.display if real else None,
                written,
                wrap,
            )
            thumb = _blob_row(
                clinic.id, BlobPurpose.THUMB, 14_000, objects.thumb if real else None, written, wrap
            )
            blobs += [original, display, thumb]
            photo_id = uuid.uuid4()
            plan.photo_ids.append(photo_id)
            plan.photo_patients.append(pid)
            photos.append(
                {
                    "id": photo_id,
                    "clinic_id": clinic.id,
                    "patient_id": pid,
                    "episode_id": episode["id"],
                    "stage": stage,
                    "area": episode["areas"][0],
                    "view": VIEWS[n % len(VIEWS)],
                    "taken_at": taken,
                    "taken_by_id": episode["practitioner_id"],
                    "original_id": original["id"],
                    "original_name": f"IMG_{n:04d}.jpg",
                    "original_mime": "image/jpeg",
                    "original_size": len(objects.original),
                    "original_sha256": objects.sha256,
                    "width": 900,
                    "height": 1200,
                    "display_id": display["id"],
                    "thumb_id": thumb["id"],
                    "status": PhotoStatus.READY,
                    "uploaded_at": taken,
                    "updated_at": taken,
                    "processed_at": taken,
                }
            )
        # Four in five patients signed the clinic's consent form.
        if rng.random() < 0.8 or i < 2:
            signature = _blob_row(
                clinic.id, "signature", 3_000, objects.signature if real else None, written, wrap
            )
            blobs.append(signature)
            signed = created + timedelta(minutes=20)
            request_id = uuid.uuid4()
            requests.append(
                {
                    "id": request_id,
                    "clinic_id": clinic.id,
                    "patient_id": pid,
                    "template_id": template.pk,
                    "token_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                    "sent_to": patients[-1]["email"],
                    "sent_by_id": staff[0].pk,
                    "created_at": created,
                    "expires_at": created + timedelta(days=7),
                    "opened_at": signed,
                    "signed_at": signed,
                    "emailed_at": created,
                }
            )
            records.append(
                {
                    "id": uuid.uuid4(),
                    "clinic_id": clinic.id,
                    "patient_id": pid,
                    "request_id": request_id,
                    "template_id": template.pk,
                    "typed_name": f"{first} {last}",
                    "signature_id": signature["id"],
                    "signature_method": "drawn",
                    "signed_at": signed,
                    "text_shown": text,
                    "text_sha256": text_sha,
                    "uses_granted": ["clinical_record"],
                    "uses_refused": [u for u in template.uses_offered if u != "clinical_record"],
                }
            )
        if len(photos) >= 20_000:
            _flush(patients, episodes, blobs, photos, requests, records)
    _flush(patients, episodes, blobs, photos, requests, records)
    return written


def _flush(patients, episodes, blobs, photos, requests, records) -> None:
    for model, rows in (
        (Patient, patients),
        (TreatmentEpisode, episodes),
        (Blob, blobs),
        (Photo, photos),
        (ConsentRequest, requests),
        (ConsentRecord, records),
    ):
        if rows:
            copy_rows(model, rows)
            rows.clear()


def _chain_head(clinic_id) -> tuple[int, str]:
    """The chain's last seq and hash (read before the COPY: the connection is busy during it)."""
    last = (
        AuditEvent.objects.filter(clinic_id=clinic_id)
        .order_by("-seq")
        .values("seq", "hash")
        .first()
    )
    return (last["seq"], last["hash"]) if last else (0, GENESIS_HASH)


def _events(
    plan: ClinicPlan, rng: random.Random, count: int, head: tuple[int, str]
) -> Iterator[dict]:
    """``count`` events of one clinic's chain, after ``head``, each hashed onto the one before."""
    clinic_id = plan.clinic.id
    seq, prev = head
    # Ten years of history up to now, after the few events of the clinic's setup.
    end = timezone.now()
    start = end - timedelta(days=3650)
    step = (end - start) / max(1, count + 1)
    actions, targets, weights = zip(*[(a, t, w) for a, t, w in EVENT_ACTIONS], strict=True)
    staff = plan.staff
    patient_ids, photo_ids = plan.patient_ids, plan.photo_ids
    network = clinic_id.int % 250 if clinic_id else 0
    fields = AuditEvent._meta.concrete_fields
    per_row = [(f.attname, f.default) for f in fields if f.has_default() and callable(f.default)]
    fixed = {
        f.attname: f.get_default() for f in fields if not (f.has_default() and callable(f.default))
    }
    fixed["hash_format"] = HASH_FORMAT
    has_request_id = any(f.attname == "request_id" for f in fields)
    when = start
    for _ in range(count):
        seq += 1
        when += step
        action_index = rng.choices(range(len(actions)), weights)[0]
        action, target_type = actions[action_index], targets[action_index]
        actor = rng.choice(staff)
        target_id = ""
        patient_id = None
        if target_type == "photos.photo" and photo_ids:
            index = rng.randrange(len(photo_ids))
            target_id = str(photo_ids[index])
            patient_id = plan.photo_patients[index]
        elif target_type and patient_ids:
            patient_id = rng.choice(patient_ids)
            target_id = str(patient_id)
        values = dict(fixed)
        for name, make in per_row:
            values[name] = make()
        values.update(
            clinic_id=clinic_id,
            seq=seq,
            created_at=when - timedelta(seconds=1),
            actor_id=actor.pk,
            actor_label=actor.email,
            action=action,
            target_type=target_type,
            target_id=target_id,
            patient_id=patient_id,
            ip=f"10.{network}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            user_agent=USER_AGENT,
            details={"q": "***"} if action == "patient.search" else {},
            prev_hash=prev,
        )
        if has_request_id:
            values["request_id"] = uuid.uuid4().hex[:16]
        # The model's own hashing, on an instance made without __init__ (a third of the cost).
        event = AuditEvent.__new__(AuditEvent)
        event.__dict__.update(values)
        values["hash"] = prev = event.compute_hash()
        yield values


def seed_scale(
    *,
    patients: int,
    photos: int,
    events: int,
    clinics: int = len(SHARES),
    objects_for: int = 20,
    rng_seed: int = 13,
    say: Callable[[str], None] = print,
) -> dict:
    """Load the volumes; returns a summary (clinic slugs, the benchmark patients' ids, times)."""
    import time

    _check_connection()
    rng = random.Random(rng_seed)
    shares = SHARES[:clinics] if clinics <= len(SHARES) else [1 / clinics] * clinics
    total = sum(shares)
    shares = [s / total for s in shares]
    started = time.perf_counter()
    plans: list[ClinicPlan] = []
    password = make_password(DEMO_PASSWORD)  # one hash for all (PBKDF2 is slow on purpose)
    with transaction.atomic():
        for n, (n_patients, n_photos, n_events) in enumerate(
            zip(
                _split(patients, shares),
                _split(photos, shares),
                _split(events, shares),
                strict=True,
            )
        ):
            slug = f"scale-{n}"
            if Clinic.objects.filter(slug=slug).exists():
                raise SeedRefused(
                    f"A clinic {slug!r} exists already: seed_scale loads an empty chain."
                )
            from accounts import services

            admin = _staff(f"admin@{slug}.example", f"Admin {n}", password)
            clinic = services.clinic_create(name=f"Scale clinic {n}", slug=slug, admin=admin)
            staff = [admin]
            with clinic_context(clinic.id):
                for s in range(STAFF_PER_CLINIC - 1):
                    user = _staff(
                        f"practitioner{s}@{slug}.example", f"Practitioner {s} ({n})", password
                    )
                    Membership.objects.create(clinic=clinic, user=user, role=Role.PRACTITIONER)
                    staff.append(user)
            plans.append(ClinicPlan(clinic, staff, n_patients, n_photos, n_events))
    say(f"{len(plans)} clinics and {len(plans) * STAFF_PER_CLINIC} staff made")
    objects = _Objects()
    written = 0
    for plan in plans:
        with transaction.atomic(), clinic_context(plan.clinic.id):
            written += len(_load_clinic(plan, objects, objects_for, rng))
        say(
            f"{plan.clinic.slug}: {plan.patients} patients, {plan.photos} photos loaded "
            f"({time.perf_counter() - started:.0f} s)"
        )
    for plan in plans:
        with transaction.atomic(), clinic_context(plan.clinic.id):
            head = _chain_head(plan.clinic.id)
            copy_rows(AuditEvent, _events(plan, rng, plan.events, head))
        seconds = time.perf_counter() - started
        say(f"{plan.clinic.slug}: {plan.events} audit events ({seconds:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    first = plans[0]
    return {
        "clinics": [p.clinic.slug for p in plans],
        "patients": patients,
        "photos": photos,
        "events": events,
        "objects_written": written,
        "patient_200_photos": str(first.patient_ids[0]) if first.patient_ids else "",
        "patient_20_photos": str(first.patient_ids[1]) if len(first.patient_ids) > 1 else "",
        "seconds": round(time.perf_counter() - started, 1),
    }
