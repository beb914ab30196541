"""Background work on photos: renditions."""

from __future__ import annotations

from celery import shared_task

from clinic.clinic_task import ClinicTask
from photos import services


@shared_task(base=ClinicTask, name="photos.tasks.process_photo", takes_job=True)
def process_photo(*, clinic_id: str, photo_id: str, job=None) -> str:
    """Decrypt, decode, orient, strip and render one photo (ids only in the message)."""
    return services.photo_process(
        clinic_id=clinic_id, photo_id=photo_id, earlier_failures=job.failures if job else 0
    )
