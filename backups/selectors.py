"""What backups report: the last successful backup and verification, for the settings page,
the metrics and the watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from backups.models import BackupRun


@dataclass(frozen=True)
class BackupStatus:
    configured: bool
    last_ok: BackupRun | None
    last_failed: BackupRun | None  # a failure after the last success
    last_verified: BackupRun | None
    missing: bool  # no success within BACKUP_MISSING_HOURS

    @property
    def last_ok_at(self) -> datetime | None:
        return self.last_ok.finished_at if self.last_ok else None


def backup_status(now: datetime | None = None) -> BackupStatus:
    """The stack's backups as the admins and operators see them."""
    now = now or timezone.now()
    runs = BackupRun.objects.filter(kind=BackupRun.Kind.BACKUP, finished_at__isnull=False)
    last_ok = runs.filter(ok=True).order_by("-finished_at").first()
    failed = runs.filter(ok=False)
    if last_ok:
        failed = failed.filter(started_at__gt=last_ok.started_at)
    last_verified = (
        BackupRun.objects.filter(kind=BackupRun.Kind.VERIFY, ok=True)
        .order_by("-finished_at")
        .first()
    )
    limit = timedelta(hours=settings.BACKUP_MISSING_HOURS)
    return BackupStatus(
        configured=bool(settings.BACKUP_TARGET),
        last_ok=last_ok,
        last_failed=failed.order_by("-started_at").first(),
        last_verified=last_verified,
        missing=last_ok is None or now - (last_ok.finished_at or now) > limit,
    )
