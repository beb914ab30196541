"""Workers stay within bounds: a photo too big to decode fails with a clear message after a few
attempts while the worker stays small and goes on with the next photo; a worker that cannot
unwrap keys leaves photos processing, never failed, and they complete once it is fixed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from clinic import outbox
from clinic.models import Job, JobState
from clinic.tenancy import clinic_context
from photos.models import Photo, PhotoStatus
from photos.services import OUT_OF_BOUNDS_MESSAGE
from tests import factories as f
from tests.conftest import wait_until
from tests.photos import images
from tests.photos.test_photo_pages import uploaded_photo_id

WORKER_MEMORY_LIMIT_KB = 300 * 1024  # the worker itself never decodes


@pytest.fixture
def people(committed_db):
    clinic = f.make_clinic()
    practitioner = f.make_member(clinic, "practitioner")
    patient = f.make_patient(clinic, practitioner)
    episode = f.make_episode(clinic, patient, practitioner)
    return clinic, practitioner, patient, episode


def _upload(people, name: str, data: bytes) -> str:
    clinic, practitioner, patient, episode = people
    client = f.verified_client(practitioner)
    return uploaded_photo_id(client, clinic, patient, episode, name, data)


def _photo(clinic, photo_id) -> Photo:
    with clinic_context(clinic.id):
        return Photo.objects.get(pk=photo_id)


def _job(clinic, photo_id) -> Job:
    with clinic_context(clinic.id):
        return Job.objects.filter(clinic=clinic, kwargs__photo_id=str(photo_id)).latest(
            "created_at"
        )


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.worker
def test_a_heic_claiming_49_megapixels_fails_clearly_and_the_next_photo_is_processed(
    people, celery_worker
):
    clinic = people[0]
    bomb = images.heic_claiming_49_megapixels()
    assert len(bomb) < 16_000
    bomb_id = _upload(people, "huge.heic", bomb)
    next_id = _upload(people, "next.jpg", images.phone_jpeg(1600, 1200))

    assert wait_until(lambda: _photo(clinic, next_id).status == PhotoStatus.READY, timeout=60)
    assert wait_until(lambda: _photo(clinic, bomb_id).status == PhotoStatus.FAILED, timeout=90)
    photo = _photo(clinic, bomb_id)
    assert photo.failure_reason == OUT_OF_BOUNDS_MESSAGE
    job = _job(clinic, bomb_id)
    assert job.state == JobState.DONE
    assert job.attempts == 3 and job.failures == 2  # the third attempt gave up
    assert celery_worker.log_count("ran out of its memory allowance") >= 2
    assert celery_worker.process.poll() is None, "the worker itself survived"
    assert _peak_rss_kb(celery_worker.process.pid) < WORKER_MEMORY_LIMIT_KB

    # An admin raises the limit (here: just asks again); the failed photo is queued once more.
    call_command("requeue_photos", "--clinic", clinic.slug, "--failed")
    assert _photo(clinic, bomb_id).status == PhotoStatus.PROCESSING
    assert wait_until(lambda: _photo(clinic, bomb_id).status == PhotoStatus.FAILED, timeout=90)


@pytest.mark.worker
def test_a_worker_with_the_wrong_master_key_leaves_photos_processing_until_it_is_fixed(
    people, celery_worker
):
    clinic = people[0]
    celery_worker.stop()
    celery_worker.extra_env["MASTER_KEY"] = "d3JvbmctbWFzdGVyLWtleS0tZm9yLXRoZS10ZXN0cyE="
    celery_worker.start()
    photo_id = _upload(people, "lips.jpg", images.phone_jpeg(1600, 1200))

    assert wait_until(lambda: _job(clinic, photo_id).attempts >= 3, timeout=60), (
        "the worker did not retry"
    )
    job = _job(clinic, photo_id)
    assert job.state == JobState.PENDING and job.failures == 0
    assert "MasterKeyProblem" in job.last_error
    assert _photo(clinic, photo_id).status == PhotoStatus.PROCESSING
    # An attempt is counted when it is claimed and logged when it has failed: wait for the log.
    assert wait_until(lambda: celery_worker.log_count("failed on attempt") >= 3, timeout=30)

    celery_worker.stop()
    del celery_worker.extra_env["MASTER_KEY"]
    celery_worker.start()
    outbox.resend_due(older_than=timedelta(0))
    assert wait_until(lambda: _photo(clinic, photo_id).status == PhotoStatus.READY, timeout=60)
    assert _job(clinic, photo_id).state == JobState.DONE
