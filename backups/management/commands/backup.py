"""python manage.py backup [--to TARGET]: take a backup set now (docs/operations.md, "Backups")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backups import services
from backups.keys import BackupKeyMissing
from backups.restic import BackupError


class Command(BaseCommand):
    help = (
        "Back up the database and every object of blob storage to BACKUP_TARGET (or --to), "
        "encrypted under the backup key; then forget sets older than BACKUP_RETENTION_DAYS."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", metavar="TARGET", help="a folder or s3://bucket/prefix")

    def handle(self, *args, to: str | None = None, **options) -> None:
        try:
            run = services.backup_take(target=to)
        except (BackupError, BackupKeyMissing) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Backup set {run.snapshot_id} at {run.target}: {run.object_count} objects, "
            f"{run.size / 1e6:.1f} MB ({run.added / 1e6:.1f} MB new), "
            f"{run.seconds:.1f} s."
        )
