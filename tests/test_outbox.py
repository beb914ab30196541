"""Committed means done: with the broker down, an upload, a signature, a withdrawal, an
invitation and a consent request all answer success; once the broker is back and the outbox
sweep has run, every rendition, PDF copy, e-mail and notice arrives exactly once, through a
real SMTP server, although every job was delivered twice."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from clinic import outbox
from clinic.models import Job, JobState, Role
from clinic.tenancy import clinic_context
from consent.models import ConsentRecord
from photos.models import Photo, PhotoStatus
from tests import factories as f
from tests.conftest import _free_port, wait_until
from tests.photos import images

DOB = date(1985, 3, 14)
SKIPPED = "skipped: already done or running"


class Inbox:
    """aiosmtpd handler keeping every message, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def about(self, subject: str) -> list[email.message.EmailMessage]:
        with self._lock:
            return [m for m in self.messages if subject in str(m["Subject"])]


@pytest.fixture
def smtp(celery_worker) -> Iterator[Inbox]:
    """A real SMTP server on loopback that the worker sends through."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    celery_worker.extra_env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    yield inbox
    controller.stop()


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _path(message, kind: str) -> str:
    return re.search(rf"https?://[^/\s]+(/p/\S+/{kind}/\S+/)", _body(message)).group(1)


def _jobs(clinic):
    with clinic_context(clinic.id):
        return list(Job.objects.filter(clinic=clinic))


@pytest.mark.worker
def test_broker_outage_loses_nothing_and_everything_arrives_exactly_once(
    celery_worker, own_broker, smtp, caplog
):
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Alice Admin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    joanne = f.make_patient(
        clinic, nurse, email=f"{f.unique('jo')}@example.test", date_of_birth=DOB
    )
    leo = f.make_patient(clinic, nurse, first_name="Leo", email=f"{f.unique('leo')}@example.test")
    episode = f.make_episode(clinic, joanne, nurse)
    celery_worker.start()

    # Before the outage: Joanne is asked to sign, and gets her link.
    staff = f.verified_client(nurse)
    patient_url = {"clinic_slug": clinic.slug, "patient_id": joanne.pk}
    assert staff.post(reverse("consent_request", kwargs=patient_url)).status_code == 302
    assert wait_until(lambda: len(smtp.about("your consent to clinical")) == 1)
    request_mail = smtp.about("your consent to clinical")[0]
    sign_path, withdraw_path = _path(request_mail, "sign"), _path(request_mail, "withdraw")

    own_broker.stop()
    caplog.set_level(logging.ERROR, logger="clinic.outbox")

    upload = staff.post(
        reverse("photo_upload", kwargs=patient_url),
        {
            "episode": str(episode.pk),
            "stage": "before",
            "area": "lips",
            "view": "front",
            "files": [SimpleUploadedFile("lips.jpg", images.phone_jpeg(1600, 1200))],
        },
        HTTP_ACCEPT="application/json",
    )
    assert upload.status_code == 200, upload.content
    photo_id = upload.json()["results"][0]["photo_id"]

    patient = Client()
    assert patient.get(sign_path).status_code == 302
    confirm = patient.post(
        patient.get(sign_path)["Location"], {"day": DOB.day, "month": DOB.month, "year": DOB.year}
    )
    assert confirm.status_code in (200, 302)
    signature = "data:image/png;base64," + base64.b64encode(f.signature_png()).decode()
    signed = patient.post(
        reverse("consent_sign", kwargs={"clinic": clinic.slug}),
        {
            "full_name": "Joanne Smith",
            "signature": signature,
            "use_clinical_record": "on",
            "use_social_media": "on",
        },
        follow=True,
    )
    assert signed.status_code == 200 and "already" not in signed.content.decode()

    withdrawer = Client()
    withdrawer.get(withdraw_path)
    withdrawn = withdrawer.post(
        reverse("consent_withdraw", kwargs={"clinic": clinic.slug}),
        {"use": "social_media"},
        follow=True,
    )
    assert withdrawn.status_code == 200
    assert "Withdrawn: Social media" in withdrawn.content.decode()

    boss = f.verified_client(admin)
    staff_url = reverse("staff_list", kwargs={"clinic_slug": clinic.slug})
    newcomer = f"{f.unique('new')}@example.test"
    invited = boss.post(staff_url, {"email": newcomer, "role": "reception"})
    assert invited.status_code == 302
    assert "e-mail not sent yet, retrying" in boss.get(staff_url).content.decode()
    leo_url = {"clinic_slug": clinic.slug, "patient_id": leo.pk}
    assert staff.post(reverse("consent_request", kwargs=leo_url)).status_code == 302
    leo_page = staff.get(reverse("patient_detail", kwargs=leo_url)).content.decode()
    assert "e-mail not sent yet, retrying" in leo_page

    owed = [j for j in _jobs(clinic) if j.state == JobState.PENDING]
    assert sorted(j.task for j in owed) == sorted(
        [
            "photos.tasks.process_photo",
            "consent.tasks.send_consent_copy",
            "consent.tasks.confirm_withdrawal_to_patient",
            "consent.tasks.notify_admins_of_withdrawal",
            "clinic.tasks.send_invitation",
            "consent.tasks.send_consent_request",
        ]
    )
    unsent = [r for r in caplog.records if "could not send job" in r.getMessage()]
    assert len(unsent) == len(owed)

    # The broker is back; the sweep runs twice at once, so every job is delivered twice.
    own_broker.start()
    assert outbox.resend_due(older_than=timedelta(0)) == len(owed)
    duplicates = outbox.resend_due(older_than=timedelta(0))
    assert duplicates >= 1
    assert wait_until(lambda: all(j.state == JobState.DONE for j in _jobs(clinic)), timeout=120)
    assert wait_until(lambda: celery_worker.log_count(SKIPPED) >= duplicates), (
        "the duplicate deliveries did not run"
    )
    assert all(j.attempts >= 1 for j in _jobs(clinic))

    with clinic_context(clinic.id):
        photo = Photo.objects.get(pk=photo_id)
        assert photo.status == PhotoStatus.READY and photo.display_id and photo.thumb_id
        processed = AuditEvent.objects.filter(action="photo.processed", target_id=str(photo_id))
        assert processed.count() == 1
        signed_record = ConsentRecord.objects.get(patient=joanne)
        assert signed_record.pdf_id and signed_record.emailed_at
    copies = smtp.about("your signed photo consent")
    assert len(copies) == 1
    assert any(p.get_content_type() == "application/pdf" for p in copies[0].iter_attachments())
    assert len(smtp.about("your consent withdrawal is recorded")) == 1
    assert len(smtp.about("Consent withdrawn")) == 1
    assert len(smtp.about("invited to join")) == 1
    assert len(smtp.about("your consent to clinical")) == 2  # Joanne's before, Leo's after
    assert "sent at" in boss.get(staff_url).content.decode()
    # The invitation link the worker e-mailed works.
    invite_path = re.search(r"https?://[^/\s]+(/invite/\S+)", _body(smtp.about("invited")[0]))
    assert Client().get(invite_path.group(1)).status_code == 200
