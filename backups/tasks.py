"""Backups' background work: the scheduled backup and its weekly check (beat), the hourly
watch that tells admins of a failed or missing backup, and the outbox job that writes an
erasure's tombstone to the backup target."""

from __future__ import annotations

import logging

from celery import shared_task

from backups import tombstones
from clinic.clinic_task import ClinicTask

logger = logging.getLogger("backups")


@shared_task(base=ClinicTask, name="backups.tasks.write_tombstone")
def write_tombstone(*, clinic_id: str, erasure_id: str) -> str:
    """Write an erasure's tombstone (ids only) to the backup target; retried by the outbox
    while the target cannot be reached."""
    snapshot = tombstones.tombstone_write(clinic_id=clinic_id, erasure_id=erasure_id)
    logger.info("erasure %s: tombstone %s written to the backup target", erasure_id, snapshot)
    return "written"
