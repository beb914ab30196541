"""python manage.py restore --from TARGET [--set ID] [--force]: restore a backup set onto this
stack (docs/operations.md, "Restoring")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backups import services
from backups.keys import BackupKeyMissing
from backups.restic import BackupError


class Command(BaseCommand):
    help = (
        "Restore a backup set (the latest unless --set) onto this stack's database and blob "
        "storage, then erase again every patient whose erasure tombstone is at the target. "
        "Refuses a database or bucket that holds anything unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="source", metavar="TARGET", help="default BACKUP_TARGET")
        parser.add_argument("--set", dest="set_id", metavar="ID", help="a set's id (or its start)")
        parser.add_argument("--force", action="store_true", help="overwrite a non-empty target")
        parser.add_argument("--list", action="store_true", help="list the sets and stop")

    def handle(self, *args, source=None, set_id=None, force=False, list=False, **options) -> None:
        try:
            if list:
                for snapshot in services.sets(target=source):
                    self.stdout.write(snapshot.label)
                return
            report = services.restore(target=source, set_id=set_id, force=force)
        except (BackupError, BackupKeyMissing) as error:
            raise CommandError(str(error)) from error
        if report.overwrote:
            self.stdout.write("Overwrote: " + "; ".join(report.overwrote))
        self.stdout.write(
            f"Restored set {report.snapshot.label}: the database ({report.database}) and "
            f"{report.objects} objects; {len(report.replayed)} erasure(s) replayed from their "
            "tombstones. Run `manage.py verify_audit` next."
        )
