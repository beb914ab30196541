"""Backups' background work: the scheduled backup and its weekly check (beat), the hourly
watch that tells admins of a failed or missing backup, and the outbox jobs (an erasure's
tombstone to the backup target, the admins' e-mail)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from backups import services, tombstones
from backups.keys import BackupKeyMissing
from backups.models import BackupRun
from backups.restic import BackupError
from backups.selectors import backup_status
from clinic.clinic_task import ClinicTask
from clinic.mail import send_clinic_mail
from clinic.models import Clinic
from clinic.selectors import admin_emails
from clinic.tenancy import clinic_context

logger = logging.getLogger("backups")
MISSING_TOLD = "backups:missing-told"
MISSING_TELL_EVERY = 24 * 3600


@shared_task(base=ClinicTask, name="backups.tasks.write_tombstone")
def write_tombstone(*, clinic_id: str, erasure_id: str) -> str:
    """Write an erasure's tombstone (ids only) to the backup target; retried by the outbox
    while the target cannot be reached."""
    snapshot = tombstones.tombstone_write(clinic_id=clinic_id, erasure_id=erasure_id)
    logger.info("erasure %s: tombstone %s written to the backup target", erasure_id, snapshot)
    return "written"


@shared_task(name="backups.tasks.backup_scheduled")
def backup_scheduled() -> str:
    """Beat, daily: a backup set, then the watch (a failure is told at once)."""
    if not settings.BACKUP_TARGET:
        return "no backup target"
    try:
        run = services.backup_take()
        result = f"set {run.snapshot_id}"
    except (BackupError, BackupKeyMissing) as error:
        logger.error("backup failed: %s", error)
        result = "failed"
    backup_watch()
    return result


@shared_task(name="backups.tasks.backup_verify_scheduled")
def backup_verify_scheduled() -> str:
    """Beat, weekly: restore the latest set into scratch and check it; a failure is told."""
    if not settings.BACKUP_TARGET:
        return "no backup target"
    try:
        run = services.backup_verify()
        result = f"set {run.snapshot_id} verified"
    except (BackupError, BackupKeyMissing) as error:
        logger.error("backup verification failed: %s", error)
        result = "failed"
    backup_watch()
    return result


@shared_task(name="backups.tasks.backup_watch")
def backup_watch() -> int:
    """Beat, hourly: tell every clinic's admins (outbox e-mail) of each failed backup or
    verification, once, and of a missing backup (none successful within
    BACKUP_MISSING_HOURS), once a day. How many e-mails were owed."""
    if not settings.BACKUP_TARGET:
        return 0
    owed = 0
    failed = BackupRun.objects.filter(
        ok=False, finished_at__isnull=False, alerted_at__isnull=True
    ).exclude(kind=BackupRun.Kind.RESTORE)
    for run in failed:
        owed += _tell_admins(run_id=str(run.pk))
        BackupRun.objects.filter(pk=run.pk).update(alerted_at=timezone.now())
    if backup_status().missing and cache.add(MISSING_TOLD, 1, MISSING_TELL_EVERY):
        owed += _tell_admins(run_id="")
    return owed


def _tell_admins(*, run_id: str) -> int:
    clinics = list(Clinic.objects.values_list("pk", flat=True))
    for clinic_id in clinics:
        with clinic_context(clinic_id):
            notify_admins_of_backup.delay_on_commit(clinic_id=str(clinic_id), run_id=run_id)
    return len(clinics)


@shared_task(base=ClinicTask, name="backups.tasks.notify_admins_of_backup")
def notify_admins_of_backup(*, clinic_id: str, run_id: str) -> str:
    """E-mail the clinic's admins that a backup failed (``run_id``) or is missing ('')."""
    clinic = Clinic.objects.get(pk=clinic_id)
    admins = admin_emails(clinic)
    if not admins:
        return "no admins"
    run = BackupRun.objects.filter(pk=run_id).first() if run_id else None
    status = backup_status()
    if run is not None:
        what = "backup" if run.kind == BackupRun.Kind.BACKUP else "backup check"
        subject = (
            f"{clinic.name}: the {what} of {timezone.localtime(run.started_at):%d %b %Y} failed"
        )
    else:
        subject = f"{clinic.name}: no backup for more than {settings.BACKUP_MISSING_HOURS} hours"
    body = render_to_string(
        "backups/email/problem.txt",
        {"clinic": clinic, "run": run, "status": status, "hours": settings.BACKUP_MISSING_HOURS},
    )
    send_clinic_mail(clinic=clinic, subject=subject, body=body, to=admins)
    return "sent"
