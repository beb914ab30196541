"""Consent work done after commit: the signed copy (PDF, e-mailed) and withdrawal notices."""

from __future__ import annotations

from celery import shared_task
from django.template.loader import render_to_string
from django.utils import timezone

from clinic.clinic_task import ClinicTask
from clinic.mail import clinic_email, send_clinic_mail
from clinic.selectors import admin_emails
from consent import selectors, services
from consent.models import ConsentBlobPurpose, ConsentRecord, ConsentUse, ConsentWithdrawal
from consent.pdf import render_consent_pdf
from vault import storage


@shared_task(base=ClinicTask, name="consent.tasks.send_consent_request")
def send_consent_request(*, clinic_id: str, request_id: str) -> str:
    """E-mail the signing link from the worker, so no request waits on the SMTP server."""
    return services.request_email(clinic_id=clinic_id, request_id=request_id)


@shared_task(base=ClinicTask, name="consent.tasks.send_consent_copy")
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
    message = clinic_email(
        clinic=record.clinic,
        subject=f"{record.clinic.name}: your signed photo consent",
        body=body,
        to=[record.request.sent_to],
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


def _withdrawal(clinic_id: str, withdrawal_id: str) -> ConsentWithdrawal:
    return ConsentWithdrawal.objects.select_related("clinic", "patient").get(
        clinic_id=clinic_id, pk=withdrawal_id
    )


@shared_task(base=ClinicTask, name="consent.tasks.confirm_withdrawal_to_patient")
def confirm_withdrawal_to_patient(*, clinic_id: str, withdrawal_id: str) -> str:
    """Confirm a withdrawal to the patient, saying what stays valid."""
    withdrawal = _withdrawal(clinic_id, withdrawal_id)
    clinic, patient = withdrawal.clinic, withdrawal.patient
    if not patient.email:
        return "no address"
    labels = dict(ConsentUse.choices)
    still_active = [
        labels[u] for u in sorted(selectors.active_uses(clinic=clinic, patient=patient))
    ]
    body = render_to_string(
        "consent/email/withdrawal_confirmed.txt",
        {
            "clinic": clinic,
            "patient": patient,
            "withdrawal": withdrawal,
            "uses": [labels[u] for u in withdrawal.uses],
            "still_active": still_active,
            "withdraw_url": services.withdrawal_link_create(clinic=clinic, patient=patient)
            if still_active
            else "",
        },
    )
    send_clinic_mail(
        clinic=clinic,
        subject=f"{clinic.name}: your consent withdrawal is recorded",
        body=body,
        to=[patient.email],
    )
    return "sent"


@shared_task(base=ClinicTask, name="consent.tasks.notify_admins_of_withdrawal")
def notify_admins_of_withdrawal(*, clinic_id: str, withdrawal_id: str) -> str:
    """Tell the clinic's admins that a patient withdrew consent."""
    withdrawal = _withdrawal(clinic_id, withdrawal_id)
    clinic, patient = withdrawal.clinic, withdrawal.patient
    admins = admin_emails(clinic)
    if not admins:
        return "no admins"
    labels = dict(ConsentUse.choices)
    uses = [labels[u] for u in withdrawal.uses]
    body = render_to_string(
        "consent/email/withdrawal_admin.txt",
        {"clinic": clinic, "patient": patient, "withdrawal": withdrawal, "uses": uses},
    )
    send_clinic_mail(
        clinic=clinic,
        subject=" ".join(f"Consent withdrawn: {patient.full_name} ({', '.join(uses)})".split()),
        body=body,
        to=admins,
    )
    return "sent"
