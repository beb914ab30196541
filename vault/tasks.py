"""Background work on the vault: a sweep for ciphertext nobody owns."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from vault import orphans


@shared_task(name="vault.tasks.sweep_orphan_objects")
def sweep_orphan_objects() -> int:
    """Hourly: delete ciphertext left in blob storage by uploads whose transaction rolled back."""
    return orphans.delete_orphan_objects(older_than=settings.ORPHAN_OBJECT_AGE)
