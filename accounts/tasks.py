"""Staff accounts' work done after commit: invitation e-mails."""

from __future__ import annotations

from celery import shared_task

from accounts import services
from clinic.clinic_task import ClinicTask


# The task keeps the name it had on the ground floor: jobs already in the outbox name it.
@shared_task(base=ClinicTask, name="clinic.tasks.send_invitation")
def send_invitation(*, clinic_id: str, invitation_id: str) -> str:
    """E-mail an invitation from the worker, so no request waits on the SMTP server."""
    return services.invitation_email(clinic_id=clinic_id, invitation_id=invitation_id)
