"""Small builders for the cast of the tests: clinic A with admin, practitioner and reception,
and clinic B with its own admin."""

from __future__ import annotations

import itertools
import time
from datetime import date

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP

from accounts.middleware import SESSION_LOGIN_AT
from clinic.models import AuthenticatorDevice, Clinic, Membership, User
from clinic.tenancy import clinic_context
from patients import services as patient_services

PASSWORD = "correct-horse-battery-9"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}{next(_counter)}"


def make_user(email: str | None = None, name: str = "Test Person", with_totp: bool = True) -> User:
    user = User.objects.create_user(
        email or f"{unique('user')}@example.test", PASSWORD, full_name=name
    )
    if with_totp:
        AuthenticatorDevice.objects.create_for(user=user, name="Phone", confirmed=True)
    return user


def totp_now(user: User, offset_steps: int = 0) -> str:
    device = AuthenticatorDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def make_clinic(name: str = "Test Clinic") -> Clinic:
    return Clinic.objects.create(name=name, slug=unique("clinic-"))


def add_member(clinic: Clinic, user: User, role: str) -> Membership:
    with clinic_context(clinic.id):
        return Membership.objects.create(clinic=clinic, user=user, role=role)


def make_member(clinic: Clinic, role: str, name: str | None = None) -> User:
    user = make_user(name=name or f"{role.title()} Person")
    add_member(clinic, user, role)
    return user


def make_patient(clinic: Clinic, by: User, **data) -> object:
    defaults = {
        "first_name": "Joanne",
        "last_name": "Smith",
        "date_of_birth": date(1985, 3, 14),
        "email": "",
        "phone": "",
        "notes": "",
    }
    defaults.update(data)
    with clinic_context(clinic.id):
        return patient_services.patient_create(clinic=clinic, by=by, **defaults)


def make_episode(clinic: Clinic, patient, by: User, **data):
    defaults = {
        "treatment_type": "toxin",
        "areas": ["forehead"],
        "performed_on": date(2026, 1, 10),
        "practitioner": by,
    }
    defaults.update(data)
    with clinic_context(clinic.id):
        return patient_services.episode_create(clinic=clinic, patient=patient, by=by, **defaults)


def verified_client(user: User) -> Client:
    """A test client signed in with password and second factor, as after a real sign-in."""
    client = Client()
    client.force_login(user)
    device = AuthenticatorDevice.objects.get(user=user, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SESSION_LOGIN_AT] = time.time()
    session.save()
    return client


def photo_jpeg(size=(800, 600)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise(size, 50).convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def make_ready_photo(
    clinic: Clinic, patient, episode, by: User, data: bytes | None = None, **details
):
    """A photo accepted and processed in-process (no worker)."""
    from photos import services as photo_services

    spec = {
        "episode": episode,
        "stage": "before",
        "area": "lips",
        "view": "front",
        "taken_at": None,
    }
    spec.update(details)
    with clinic_context(clinic.id):
        photo = photo_services.photo_accept(
            clinic=clinic,
            patient=patient,
            by=by,
            details=photo_services.PhotoDetails(**spec),
            filename="photo.jpg",
            data=data or photo_jpeg(),
        )
        photo_services.photo_process(clinic_id=clinic.id, photo_id=photo.id)
        photo.refresh_from_db()
    return photo


def signature_png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).line(
        [(10, 80), (80, 20), (150, 70), (290, 30)], fill=(16, 35, 63, 255), width=3
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_signed_consent(clinic: Clinic, patient, by: User, uses=("clinical_record",)):
    """A consent request sent to the patient and signed with ``uses``."""
    from django.test import TestCase

    from consent import services as consent_services

    # The request e-mail (with its withdrawal link) leaves after commit: here, in-process.
    with TestCase.captureOnCommitCallbacks(execute=True), clinic_context(clinic.id):
        request = consent_services.request_send(clinic=clinic, patient=patient, by=by)
    with clinic_context(clinic.id):
        return consent_services.consent_sign(
            consent_request=request,
            signature=consent_services.Signature(
                typed_name=patient.full_name, uses_granted=list(uses), signature_png=signature_png()
            ),
        )


def personal_of(event) -> dict | str | None:
    """An audit event's sealed personal detail, read as the application reads it."""
    from audit.personal import event_personal

    with clinic_context(event.clinic_id):
        return event_personal(event)
