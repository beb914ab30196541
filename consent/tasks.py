"""Consent work done after commit: the signed copy (PDF, e-mailed) and withdrawal notices."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import EmailMessage, send_mail
from django.db import OperationalError
from django.template.loader import render_to_string
from django.utils import timezone

from clinic.celery import ClinicTask
from clinic.models import Membership, Role
from consent import selectors, services
from consent.models import ConsentBlobPurpose, ConsentRecord, ConsentUse, ConsentWithdrawal
from consent.pdf import render_consent_pdf
from vault import storage

RETRY = {
    "autoretry_for": (storage.StorageUnavailable, OperationalError, OSError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "max_retries": 30,
}


@shared_task(base=ClinicTask, name="consent.tasks.send_consent_copy", **RETRY)
def send_consent_copy(*, clinic_id: str, record_id: str) -> str:
    """Render the signed copy once, keep it encrypted on the record, e-mail it once."""
    record = (
        ConsentRecord.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "template", "signature", "pdf", "request")
        .get(clinic_id=clinic_id, pk=record_id)
    )
    if record.pdf is None:
        pdf = render_consent_pdf(record)
        record.pdf = storage.blob_store(
            clinic_id=clinic_id, purpose=ConsentBlobPurpose.PDF, data=pdf
        )
        record.save(update_fields=["pdf"])
    if record.emailed_at:
        return "already sent"
    labels = dict(ConsentUse.choices)
    body = render_to_string(
        "consent/email/signed_copy.txt",
        {
            "clinic": record.clinic,
            "patient": record.patient,
            "record": record,
            "granted": [labels[u] for u in record.uses_granted],
            "refused": [labels[u] for u in record.uses_refused],
            "withdraw_url": services.withdrawal_link_create(
                clinic=record.clinic, patient=record.patient
            ),
        },
    )
    message = EmailMessage(
        f"{record.clinic.name}: your signed photo consent", body, to=[record.request.sent_to]
    )
    message.attach(
        f"photo-consent-{record.signed_at:%Y-%m-%d}.pdf",
        storage.blob_read(record.pdf),
        "application/pdf",
    )
    message.send()
    record.emailed_at = timezone.now()
    record.save(update_fields=["emailed_at"])
    return "sent"


@shared_task(base=ClinicTask, name="consent.tasks.notify_withdrawal", **RETRY)
def notify_withdrawal(*, clinic_id: str, withdrawal_id: str) -> None:
    """Confirm a withdrawal to the patient and tell the clinic's admins."""
    withdrawal = ConsentWithdrawal.objects.select_related("clinic", "patient").get(
        clinic_id=clinic_id, pk=withdrawal_id
    )
    clinic, patient = withdrawal.clinic, withdrawal.patient
    labels = dict(ConsentUse.choices)
    uses = [labels[u] for u in withdrawal.uses]
    still_active = [
        labels[u] for u in sorted(selectors.active_uses(clinic=clinic, patient=patient))
    ]
    if patient.email:
        body = render_to_string(
            "consent/email/withdrawal_confirmed.txt",
            {
                "clinic": clinic,
                "patient": patient,
                "withdrawal": withdrawal,
                "uses": uses,
                "still_active": still_active,
                "withdraw_url": services.withdrawal_link_create(clinic=clinic, patient=patient)
                if still_active
                else "",
            },
        )
        send_mail(
            f"{clinic.name}: your consent withdrawal is recorded", body, None, [patient.email]
        )
    admins = list(
        Membership.objects.filter(clinic=clinic, role=Role.ADMIN, is_active=True).values_list(
            "user__email", flat=True
        )
    )
    if admins:
        body = render_to_string(
            "consent/email/withdrawal_admin.txt",
            {
                "clinic": clinic,
                "patient": patient,
                "withdrawal": withdrawal,
                "uses": uses,
            },
        )
        send_mail(
            " ".join(f"Consent withdrawn: {patient.full_name} ({', '.join(uses)})".split()),
            body,
            None,
            admins,
        )
