"""What backups remember in the database: one row per backup, verification or restore run,
for the settings page, the metrics and the watch (a failed or missing backup). The stack's,
not a clinic's: one backup set holds every clinic."""

from __future__ import annotations

from django.db import models


class BackupRun(models.Model):
    class Kind(models.TextChoices):
        BACKUP = "backup", "backup"
        VERIFY = "verify", "verification"
        RESTORE = "restore", "restore"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=500)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    snapshot_id = models.CharField(max_length=64, blank=True)
    # Bytes of the set when restored (database copy and every object), and bytes this run
    # added to the repository (after deduplication and compression).
    size = models.BigIntegerField(default=0)
    added = models.BigIntegerField(default=0)
    object_count = models.PositiveIntegerField(default=0)
    # Objects fetched from the bucket for this set (the others were in the mirror already).
    fetched = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Set when the admins were told of this failure, so they are told once.
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["kind", "ok", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
