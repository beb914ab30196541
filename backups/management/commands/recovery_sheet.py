"""python manage.py recovery_sheet [--fingerprints-only]: the keys' recovery sheet, to print
and keep away from the server (a safe, or two sealed halves with two people): without the
master key no photo can be decrypted, without the backup key no backup can be read, and
without the checkpoint key the restored audit trail cannot be verified against its
checkpoints. docs/operations.md, "The recovery sheet"."""

from __future__ import annotations

import base64

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import record
from backups.keys import (
    BackupKeyMissing,
    backup_key,
    checkpoint_key_fingerprint,
    fingerprint,
    master_key_fingerprint,
)


class Command(BaseCommand):
    help = (
        "Print the recovery sheet: the master key, the backup key and the audit checkpoint key "
        "with their fingerprints, where the backups are, and how to restore."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--fingerprints-only",
            action="store_true",
            help="print fingerprints only (to check a printed sheet against this server)",
        )

    def handle(self, *args, fingerprints_only: bool = False, **options) -> None:
        try:
            backup = backup_key()
        except BackupKeyMissing as error:
            raise CommandError(str(error)) from error
        secret = not fingerprints_only
        lines = [
            "CLINIC PHOTOS: KEY RECOVERY SHEET",
            f"Server: {settings.SITE_URL}    Printed: {timezone.localtime():%d %B %Y %H:%M}",
            "",
        ]
        if secret:
            lines += [
                "KEEP THIS SHEET LOCKED AWAY FROM THE SERVER AND ITS BACKUPS. Anyone holding",
                "it and a backup can read every patient's records and photos.",
                "",
            ]
        if settings.KMS_KEY_ID:
            lines += [
                "1. Master key: held by AWS KMS, key id " + settings.KMS_KEY_ID,
                f"   fingerprint {master_key_fingerprint()}",
            ]
        else:
            lines += ["1. Master key (MASTER_KEY)", f"   fingerprint {master_key_fingerprint()}"]
            if secret:
                lines.append(f"   {settings.MASTER_KEY}")
        for previous in settings.MASTER_KEYS_PREVIOUS:
            lines.append(
                f"   earlier master key, fingerprint {fingerprint(base64.b64decode(previous))}"
            )
            if secret:
                lines.append(f"   {previous}")
        lines += ["", "2. Backup key (BACKUP_KEY)", f"   fingerprint {fingerprint(backup)}"]
        if secret:
            lines.append(f"   {backup}")
        lines += [
            "",
            "3. Audit checkpoint key (AUDIT_CHECKPOINT_KEY)",
            f"   fingerprint {checkpoint_key_fingerprint()}",
        ]
        if secret:
            lines.append(f"   {settings.AUDIT_CHECKPOINT_KEY}")
        lines += [
            "",
            f"Backups: {settings.BACKUP_TARGET or '(no BACKUP_TARGET set)'}, kept "
            f"{settings.BACKUP_RETENTION_DAYS} days.",
            "",
            "To restore onto a new server: set the three keys above in its environment",
            "(MASTER_KEY, BACKUP_KEY, AUDIT_CHECKPOINT_KEY), an empty database and bucket, then",
            "  python manage.py restore --from <backups>",
            "  python manage.py verify_audit",
            "A restore names the key that is missing or wrong, and changes nothing until the",
            "keys match the fingerprints recorded in the backup set.",
        ]
        self.stdout.write("\n".join(lines))
        record(
            clinic=None,
            action="keys.recovery_sheet_printed",
            actor_label="system (recovery_sheet command)",
            details={"with_keys": secret},
        )
