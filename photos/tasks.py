"""Background work on photos: renditions, and a sweep for ciphertext nobody owns."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from clinic.celery import ClinicTask
from photos import orphans, services


@shared_task(base=ClinicTask, name="photos.tasks.process_photo", takes_job=True)
def process_photo(*, clinic_id: str, photo_id: str, job=None) -> str:
    """Decrypt, decode, orient, strip and render one photo (ids only in the message)."""
    return services.photo_process(
        clinic_id=clinic_id, photo_id=photo_id, earlier_failures=job.failures if job else 0
    )


@shared_task(name="photos.tasks.sweep_orphan_objects")
def sweep_orphan_objects() -> int:
    """Hourly: delete ciphertext left in blob storage by uploads whose transaction rolled back."""
    return orphans.delete_orphan_objects(older_than=settings.ORPHAN_OBJECT_AGE)
