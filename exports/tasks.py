"""Exports' background work: building a bundle, and deleting expired ones."""

from __future__ import annotations

import logging

from celery import shared_task

from clinic.clinic_task import ClinicTask
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from exports import bundle, services
from vault.storage import BlobUnreadable

logger = logging.getLogger("exports")


@shared_task(base=ClinicTask, name="exports.tasks.build_export")
def build_export(*, clinic_id: str, export_id: str) -> str:
    """Build one export (ids only in the message). An object that no longer verifies fails the
    export with a reason; anything else (storage, keys) is retried by the outbox."""
    try:
        return services.export_build(clinic_id=clinic_id, export_id=export_id)
    except (bundle.AlteredOriginal, BlobUnreadable) as error:
        logger.error("export %s cannot be built: %s", export_id, error)
        services.export_fail(clinic_id=clinic_id, export_id=export_id, reason=str(error))
        return "failed"


@shared_task(name="exports.tasks.expire_exports")
def expire_exports() -> int:
    """Beat: delete every export past EXPORT_DAYS, clinic by clinic."""
    count = 0
    for clinic in Clinic.objects.all():
        with clinic_context(clinic.pk):
            count += services.exports_expire_due(clinic=clinic)
    if count:
        logger.info("expired %d export(s)", count)
    return count
