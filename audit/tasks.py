"""Scheduled verification of the audit chains, so tampering is noticed without anyone asking."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.verify import verify_chain
from clinic.celery import ClinicTask
from clinic.models import Clinic

logger = logging.getLogger(__name__)


@shared_task(base=ClinicTask, name="audit.tasks.verify_clinic_chain", ignore_result=False)
def verify_clinic_chain(*, clinic_id: str) -> dict:
    """Verify one clinic's chain; log loudly when a link is broken."""
    report = verify_chain(clinic_id)
    if not report.ok:
        logger.error(
            "Audit chain of clinic %s is broken at event #%s (%s): %s",
            clinic_id,
            report.broken_seq,
            report.broken_event_id,
            report.reason,
        )
    return {
        "clinic_id": str(clinic_id),
        "ok": report.ok,
        "checked": report.checked,
        "broken_event_id": str(report.broken_event_id or ""),
    }


@shared_task(name="audit.tasks.verify_all_chains")
def verify_all_chains() -> int:
    """Queue one verification per clinic."""
    ids = list(Clinic.objects.values_list("id", flat=True))
    for clinic_id in ids:
        verify_clinic_chain.delay(clinic_id=str(clinic_id))
    return len(ids)
