"""Seeds the load run's clinics, run by load/run.py against the throw-away database (as the app
role, so row-level security applies as it does for the web processes).

Each clinic gets practitioners with TOTP authenticators (keys printed for the simulated
practitioners to compute codes from), patients for the search to find, a few patients with a
grid of photos to browse, and one "appointment" patient per practitioner to upload to. Photos
go through the app's own services (photo_accept), so the real Celery worker makes their
renditions; the seed waits for them. Prints one JSON object: the accounts and patients.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "load-practitioner-2026"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clinics", type=int, default=2)
    parser.add_argument("--practitioners", type=int, default=12, help="per clinic")
    parser.add_argument("--patients", type=int, default=400, help="per clinic, for search")
    parser.add_argument("--photo-patients", type=int, default=8, help="per clinic")
    parser.add_argument("--photos", type=int, default=10, help="per photo patient")
    parser.add_argument("--images", type=Path, help="write the JPEGs to upload here")
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts import services
    from clinic.models import AuthenticatorDevice, Membership, Role, User
    from clinic.tenancy import clinic_context
    from demo.seed import AREAS_FOR, FIRST, LAST, PRODUCTS, VIEW_TURN, synthetic_face
    from patients import services as patient_services
    from patients.models import Patient, normalise_name, phone_digits
    from photos import services as photo_services

    rng = random.Random(13)
    if args.images:
        args.images.mkdir(exist_ok=True)
        for i in range(4):
            (args.images / f"{i}.jpg").write_bytes(synthetic_face(50 + i, after=i % 2 == 1))
    # One hash for every load account: the hasher's cost is paid at sign-in, not 24 times here.
    password_hash = make_password(PASSWORD)
    faces = [
        synthetic_face(seed, after=seed % 2 == 1, view=view)
        for seed in range(4)
        for view in VIEW_TURN
    ]

    def user(email: str, name: str) -> tuple[User, str]:
        account = User.objects.create_user(email, None, full_name=name)
        account.password = password_hash
        account.save(update_fields=["password"])
        key = os.urandom(20)
        AuthenticatorDevice.objects.create_for(
            user=account, name="Load authenticator", confirmed=True, key=key
        )
        return account, key.hex()

    out: dict[str, Any] = {"password": PASSWORD, "clinics": []}
    today = timezone.localdate()
    for number in range(args.clinics):
        slug = f"load-{number + 1}"
        admin, _ = user(f"admin@{slug}.example", f"Admin {number + 1}")
        clinic = services.clinic_create(name=f"Load clinic {number + 1}", slug=slug, admin=admin)
        entry: dict[str, Any] = {
            "slug": slug,
            "practitioners": [],
            "photo_patients": [],
            "appointments": [],
        }
        with clinic_context(clinic.id):
            practitioners = []
            for index in range(args.practitioners):
                email = f"practitioner{index + 1}@{slug}.example"
                account, key = user(email, f"{rng.choice(FIRST)} {rng.choice(LAST)}")
                Membership.objects.create(clinic=clinic, user=account, role=Role.PRACTITIONER)
                practitioners.append(account)
                entry["practitioners"].append({"email": email, "totp_key": key})
            # The search's haystack, loaded in bulk as benchmarks/search.py does.
            batch = []
            for i in range(args.patients):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                phone = f"07700 9{rng.randint(0, 99999):05d}"
                batch.append(
                    Patient(
                        clinic=clinic,
                        first_name=first,
                        last_name=last,
                        date_of_birth=date(rng.randint(1950, 2006), rng.randint(1, 12), 1 + i % 28),
                        email=f"{first}.{last}.{i}@patients.example".lower().replace("'", ""),
                        phone=phone,
                        search_name=normalise_name(f"{first} {last}"),
                        search_phone=phone_digits(phone),
                    )
                )
            Patient.objects.bulk_create(batch)

            def patient_with_episode(
                first: str, last: str, clinic=clinic, admin=admin, practitioners=practitioners
            ) -> tuple:
                patient = patient_services.patient_create(
                    clinic=clinic,
                    by=admin,
                    first_name=first,
                    last_name=last,
                    date_of_birth=date(rng.randint(1960, 2000), rng.randint(1, 12), 14),
                    email="",
                    phone="",
                    notes="",
                )
                kind = rng.choice(list(PRODUCTS))
                episode = patient_services.episode_create(
                    clinic=clinic,
                    patient=patient,
                    by=admin,
                    treatment_type=kind,
                    areas=[AREAS_FOR[kind][0]],
                    performed_on=today - timedelta(days=rng.randint(14, 400)),
                    practitioner=rng.choice(practitioners),
                    product=rng.choice(PRODUCTS[kind]),
                    batch_number=f"L{rng.randint(1000, 9999)}",
                )
                return patient, episode

            for i in range(args.photo_patients):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                patient, episode = patient_with_episode(first, last)
                for n in range(args.photos):
                    view = list(VIEW_TURN)[n % len(VIEW_TURN)]
                    photo_services.photo_accept(
                        clinic=clinic,
                        patient=patient,
                        by=admin,
                        details=photo_services.PhotoDetails(
                            episode=episode,
                            stage="before" if n < args.photos // 2 else "after",
                            area=episode.areas[0],
                            view=view,
                            taken_at=timezone.now() - timedelta(days=30 - n),
                        ),
                        filename=f"seed-{i}-{n}.jpg",
                        data=faces[(i + n) % len(faces)],
                    )
                entry["photo_patients"].append(
                    {"id": str(patient.pk), "search": f"{first[:3]} {last[:4]}".lower()}
                )
            for index, _account in enumerate(practitioners):
                patient, episode = patient_with_episode("Appointment", f"Patient {index + 1}")
                entry["appointments"].append(
                    {"id": str(patient.pk), "episode": str(episode.pk), "area": episode.areas[0]}
                )
        out["clinics"].append(entry)
    _wait_until_ready(expected=args.clinics * args.photo_patients * args.photos)
    print(json.dumps(out))


def _wait_until_ready(expected: int, timeout: float = 300) -> None:
    """The seeded photos' renditions are the worker's job: wait for them (or fail loudly)."""
    import time

    from clinic.models import Clinic
    from clinic.tenancy import clinic_context
    from photos.models import Photo, PhotoStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = 0
        for clinic_id in Clinic.objects.values_list("id", flat=True):
            with clinic_context(clinic_id):
                ready += Photo.objects.filter(status=PhotoStatus.READY).count()
        if ready >= expected:
            return
        time.sleep(1)
    raise SystemExit(f"the worker made renditions of {ready} of {expected} seeded photos")


if __name__ == "__main__":
    main()
