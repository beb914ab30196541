"""python manage.py backup_verify [--from TARGET]: restore the latest set into a scratch
database and blob folder and check it (the weekly beat task does the same)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backups import services
from backups.keys import BackupKeyMissing
from backups.restic import BackupError


class Command(BaseCommand):
    help = (
        "Restore the latest backup set into a scratch database and blob folder, decrypt every "
        "object and verify every audit chain, then drop the scratch copy."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="source", metavar="TARGET", help="default BACKUP_TARGET")

    def handle(self, *args, source: str | None = None, **options) -> None:
        try:
            run = services.backup_verify(target=source)
        except (BackupError, BackupKeyMissing) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Backup set {run.snapshot_id} restored into scratch and checked: {run.object_count} "
            f"objects decrypted, every audit chain verified ({run.seconds:.1f} s)."
        )
