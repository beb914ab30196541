"""Background work on photos: renditions, and a sweep for work that was lost."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from clinic.celery import ClinicTask
from clinic.models import Clinic
from photos import services
from vault.storage import StorageUnavailable

STUCK_AFTER = timedelta(minutes=10)


@shared_task(
    base=ClinicTask,
    name="photos.tasks.process_photo",
    autoretry_for=(StorageUnavailable, OperationalError),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=60,
)
def process_photo(*, clinic_id: str, photo_id: str) -> str:
    """Decrypt, decode, orient, strip and render one photo (ids only in the message)."""
    return services.photo_process(clinic_id=clinic_id, photo_id=photo_id)


@shared_task(base=ClinicTask, name="photos.tasks.requeue_stuck_photos")
def requeue_stuck_photos(*, clinic_id: str) -> int:
    clinic = Clinic.objects.get(pk=clinic_id)
    return services.photos_requeue_stuck(clinic=clinic, older_than=timezone.now() - STUCK_AFTER)


@shared_task(name="photos.tasks.sweep_stuck_photos")
def sweep_stuck_photos() -> int:
    """Every few minutes: photos stuck in processing are queued again, clinic by clinic."""
    ids = list(Clinic.objects.values_list("id", flat=True))
    for clinic_id in ids:
        requeue_stuck_photos.delay(clinic_id=str(clinic_id))
    return len(ids)
