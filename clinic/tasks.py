"""Work of the ground floor done after commit: invitation e-mails, the outbox sweep and its
daily prune."""

from __future__ import annotations

from celery import shared_task

from clinic import outbox, services
from clinic.clinic_task import ClinicTask


@shared_task(base=ClinicTask, name="clinic.tasks.send_invitation")
def send_invitation(*, clinic_id: str, invitation_id: str) -> str:
    """E-mail an invitation from the worker, so no request waits on the SMTP server."""
    return services.invitation_email(clinic_id=clinic_id, invitation_id=invitation_id)


@shared_task(name="clinic.tasks.sweep_outbox")
def sweep_outbox() -> int:
    """Every minute: send again the outbox jobs whose message was lost (broker outage,
    worker crash). Each delivery claims its job, so a duplicate does nothing."""
    return outbox.resend_due()


@shared_task(name="clinic.tasks.prune_outbox")
def prune_outbox() -> int:
    """Daily: delete outbox jobs done more than OUTBOX_KEEP_DONE_DAYS ago."""
    return outbox.prune_done()
