"""The backup key: the password of the restic repository that holds every backup set. It is
not the master key (settings refuse that) and lives apart from the backups; a backup or a
restore without it stops at once and names what is missing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from django.conf import settings


class BackupKeyMissing(Exception):
    """No backup key is configured, or its file cannot be read."""


def backup_key() -> str:
    """The backup key from BACKUP_KEY_FILE or BACKUP_KEY; a clear error naming what is missing."""
    if settings.BACKUP_KEY_FILE:
        path = Path(settings.BACKUP_KEY_FILE)
        try:
            value = path.read_text().strip()
        except OSError as error:
            raise BackupKeyMissing(
                f"The backup key is missing: BACKUP_KEY_FILE names {path}, which cannot be read "
                f"({error.strerror}). Put the backup key from the recovery sheet there."
            ) from error
        if not value:
            raise BackupKeyMissing(f"The backup key is missing: {path} (BACKUP_KEY_FILE) is empty.")
        return value
    if settings.BACKUP_KEY:
        return settings.BACKUP_KEY
    raise BackupKeyMissing(
        "The backup key is missing: set BACKUP_KEY or BACKUP_KEY_FILE to the backup key "
        "printed on the clinic's recovery sheet (manage.py recovery_sheet)."
    )


def fingerprint(secret: str | bytes) -> str:
    """A short, printable fingerprint of a key (never the key): what the recovery sheet and
    the backup manifest carry so that a restore can say which key does not match."""
    raw = secret.encode() if isinstance(secret, str) else secret
    digest = hashlib.sha256(b"clinicphotos-key-fingerprint" + raw).digest()
    text = base64.b32encode(digest[:10]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def master_key_fingerprint() -> str:
    """The fingerprint of the master key (or the KMS key id) that wraps clinic keys now."""
    if settings.KMS_KEY_ID:
        return fingerprint(f"kms:{settings.KMS_KEY_ID}")
    return fingerprint(base64.b64decode(settings.MASTER_KEY))


def checkpoint_key_fingerprint() -> str:
    """The fingerprint of AUDIT_CHECKPOINT_KEY, which verify_audit needs after a restore."""
    return fingerprint(settings.AUDIT_CHECKPOINT_KEY)
