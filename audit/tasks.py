"""Scheduled care of the audit chains, so tampering is noticed without anyone asking: the
nightly verification of every chain (the system chain too), the checkpoints (every
AUDIT_CHECKPOINT_MINUTES), and the e-mail to a clinic's admins when its chain fails either.
Each run leaves a mark per chain (clinic/watch.py: when, and whether it passed) for the
operator's /metrics."""

from __future__ import annotations

import logging

from celery import shared_task
from django.template.loader import render_to_string
from django.utils import timezone

from audit import checkpoints
from audit.models import AuditEvent
from audit.services import record
from audit.verify import verify_chain
from clinic.clinic_task import ClinicTask
from clinic.mail import send_clinic_mail
from clinic.models import Clinic
from clinic.selectors import admin_emails
from clinic.watch import mark

logger = logging.getLogger(__name__)

VERIFICATION_FAILED = "audit.verification_failed"
# The marks each chain's last verification and checkpoint leave (clinic/watch.py).
VERIFIED = "audit.verification"
CHECKPOINTED = "audit.checkpoint"


def _report_broken(*, clinic_id, problems: list[str], found_by: str) -> None:
    """Put the failure on the clinic's own trail and owe its admins an e-mail (outbox)."""
    logger.error("Audit chain of clinic %s failed %s: %s", clinic_id, found_by, "; ".join(problems))
    event = record(
        clinic=clinic_id,
        action=VERIFICATION_FAILED,
        actor_label="system",
        details={"found_by": found_by, "problems": problems},
    )
    email_admins_chain_broken.delay_on_commit(clinic_id=str(clinic_id), event_id=str(event.id))


def _result(report) -> dict:
    return {
        "clinic_id": str(report.clinic_id or ""),
        "ok": report.ok,
        "checked": report.checked,
        "broken_event_id": str(report.broken_event_id or ""),
        "problems": report.problems(),
    }


@shared_task(base=ClinicTask, name="audit.tasks.verify_clinic_chain", ignore_result=False)
def verify_clinic_chain(*, clinic_id: str) -> dict:
    """Verify one clinic's chain and hold it against its latest checkpoint; on failure,
    record it and e-mail the clinic's admins."""
    report = verify_chain(clinic_id)
    mark(VERIFIED, checkpoints.chain_name(clinic_id), ok=report.ok)
    if report.tampered:
        _report_broken(clinic_id=clinic_id, problems=report.problems(), found_by="verification")
    elif report.store_error:
        # An outage is the operator's to fix, not evidence for the clinic: logged, not mailed.
        logger.error("Audit chain of clinic %s not checked: %s", clinic_id, report.store_error)
    return _result(report)


@shared_task(name="audit.tasks.verify_system_chain", ignore_result=False)
def verify_system_chain() -> dict:
    """Verify the system chain (sign-in events of unknown addresses). It belongs to no
    clinic, so a failure is logged at error level for the operator."""
    report = verify_chain(None)
    mark(VERIFIED, checkpoints.chain_name(None), ok=report.ok)
    if not report.ok:
        logger.error("The system audit chain is broken: %s", "; ".join(report.problems()))
    return _result(report)


@shared_task(name="audit.tasks.verify_all_chains")
def verify_all_chains() -> int:
    """Nightly: queue one verification per clinic, and the system chain's."""
    ids = list(Clinic.objects.values_list("id", flat=True))
    for clinic_id in ids:
        verify_clinic_chain.delay(clinic_id=str(clinic_id))
    verify_system_chain.delay()
    return len(ids) + 1


def _checkpoint(clinic_id) -> dict:
    try:
        written = checkpoints.write(clinic_id)
    except checkpoints.CheckpointRefused as refusal:
        mark(CHECKPOINTED, checkpoints.chain_name(clinic_id), ok=False)
        if clinic_id is None:
            logger.error("No checkpoint for the system audit chain: %s", refusal)
        else:
            _report_broken(clinic_id=clinic_id, problems=[str(refusal)], found_by="checkpoint")
        return {
            "chain": checkpoints.chain_name(clinic_id),
            "written": False,
            "refused": str(refusal),
        }
    # A store that cannot be reached raised above and leaves no mark: the last one ages.
    mark(CHECKPOINTED, checkpoints.chain_name(clinic_id), ok=True)
    return {
        "chain": checkpoints.chain_name(clinic_id),
        "written": written is not None,
        "seq": written.seq if written else 0,
        "name": written.name if written else "",
    }


@shared_task(base=ClinicTask, name="audit.tasks.write_clinic_checkpoint", ignore_result=False)
def write_clinic_checkpoint(*, clinic_id: str) -> dict:
    """Write one clinic's checkpoint (refused, recorded and e-mailed if the chain no
    longer matches its last one). A store that cannot be reached fails the task loudly."""
    return _checkpoint(clinic_id)


@shared_task(name="audit.tasks.write_system_checkpoint", ignore_result=False)
def write_system_checkpoint() -> dict:
    """Write the system chain's checkpoint."""
    return _checkpoint(None)


@shared_task(name="audit.tasks.write_all_checkpoints")
def write_all_checkpoints() -> int:
    """Every AUDIT_CHECKPOINT_MINUTES: queue one checkpoint per clinic, and the system chain's."""
    ids = list(Clinic.objects.values_list("id", flat=True))
    for clinic_id in ids:
        write_clinic_checkpoint.delay(clinic_id=str(clinic_id))
    write_system_checkpoint.delay()
    return len(ids) + 1


@shared_task(base=ClinicTask, name="audit.tasks.email_admins_chain_broken")
def email_admins_chain_broken(*, clinic_id: str, event_id: str) -> str:
    """Tell the clinic's admins that its audit trail failed verification, and how."""
    event = AuditEvent.objects.get(clinic_id=clinic_id, pk=event_id)
    clinic = Clinic.objects.get(pk=clinic_id)
    admins = admin_emails(clinic)
    if not admins:
        return "no admins"
    body = render_to_string(
        "audit/email/chain_broken.txt",
        {
            "clinic": clinic,
            "event": event,
            "problems": event.details.get("problems", []),
            "found_by": event.details.get("found_by", "verification"),
            "now": timezone.now(),
        },
    )
    send_clinic_mail(
        clinic=clinic,
        subject=f"{clinic.name}: the audit trail failed its check",
        body=body,
        to=admins,
    )
    return "sent"
