"""The processing pipeline for real: S3 holds only ciphertext, tampering is caught, metadata is
stripped, keys rotate, and accepted uploads survive a killed worker and an S3 outage."""

import io
import json
import os
import signal
from datetime import timedelta

import psycopg
import pytest
from django.test import override_settings
from django.urls import reverse
from PIL import Image

from audit import checkpoints
from audit.models import AuditEvent
from clinic import outbox
from clinic.models import Job, JobState
from clinic.tenancy import clinic_context
from photos.models import Photo, PhotoStatus
from tests import factories as f
from tests.conftest import S3Server, superuser_test_db_dsn, wait_until
from tests.photos import images
from tests.photos.test_photo_pages import uploaded_photo_id
from vault import keys, storage
from vault.models import Blob

SIGNATURES = {
    "JPEG": b"\xff\xd8\xff",
    "PNG": b"\x89PNG\r\n\x1a\n",
    "WebP/RIFF": b"RIFF",
    "HEIF": b"ftyp",
}


def image_bytes(fmt: str, size=(900, 700)) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = Image.effect_noise(size, 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, fmt, quality=80) if fmt != "PNG" else image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def people(committed_db):
    clinic = f.make_clinic()
    practitioner = f.make_member(clinic, "practitioner")
    patient = f.make_patient(clinic, practitioner)
    episode = f.make_episode(clinic, patient, practitioner)
    return clinic, practitioner, patient, episode


CHECKPOINT_FIELDS = {"format", "chain", "seq", "head_hash", "count", "created_at", "key_id"} | {
    "hmac_sha256"
}


def test_bucket_holds_only_ciphertext(people, s3_server):
    clinic, practitioner, patient, episode = people
    originals = [image_bytes(fmt) for fmt in ("JPEG", "PNG", "WEBP", "HEIF")]
    photos = [
        f.make_ready_photo(clinic, patient, episode, practitioner, data=data) for data in originals
    ]
    assert all(p.status == PhotoStatus.READY for p in photos)
    with clinic_context(clinic.id):
        renditions = [storage.blob_read(Blob.objects.get(pk=p.display_id)) for p in photos]
    plaintexts = originals + renditions
    checkpoints.write(clinic.id)  # the one kind of object that is not ciphertext
    client, bucket = s3_server.client, s3_server.bucket
    mine = client.list_objects_v2(Bucket=bucket, Prefix=f"checkpoints/{clinic.id}/")
    assert mine["KeyCount"] >= 1
    # The bucket is shared by the session's tests: one page of it (up to 1,000 objects, in
    # name order), plus every object of this test's photos and its checkpoint, wherever they
    # fall in that order.
    listing = client.list_objects_v2(Bucket=bucket)["Contents"] + mine["Contents"]
    with clinic_context(clinic.id):
        for blob in Blob.objects.filter(clinic=clinic):
            listing.append({"Key": blob.object_name})
    assert len(listing) >= 12
    for item in listing:
        raw = s3_server.client.get_object(Bucket=s3_server.bucket, Key=item["Key"])["Body"].read()
        if item["Key"].startswith("checkpoints/"):
            # The audit chains' signed heads (audit/checkpoints.py): hashes and counts only.
            assert set(json.loads(raw)) == CHECKPOINT_FIELDS
            continue
        assert "." not in item["Key"] and len(item["Key"]) == 32  # opaque names
        for name, signature in SIGNATURES.items():
            assert signature not in raw[:16], f"{item['Key']} starts like {name}"
        for plain in plaintexts:
            for offset in range(0, len(plain) - 64, 997):
                assert plain[offset : offset + 64] not in raw


def _object(s3_server, blob) -> bytes:
    return s3_server.client.get_object(Bucket=s3_server.bucket, Key=blob.object_name)["Body"].read()


def _put(s3_server, blob, data: bytes) -> None:
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=blob.object_name, Body=data)


@pytest.mark.parametrize("damage", ["flip", "truncate", "reorder", "swap"])
def test_tampered_objects_fail_to_decrypt_and_nothing_is_served(people, s3_server, damage):
    clinic, practitioner, patient, episode = people
    big = image_bytes("PNG", (1400, 1000))  # several 256 KiB segments
    first = f.make_ready_photo(clinic, patient, episode, practitioner, data=big)
    second = f.make_ready_photo(clinic, patient, episode, practitioner, data=image_bytes("PNG"))
    with clinic_context(clinic.id):
        blob = Blob.objects.get(pk=first.original_id)
        other = Blob.objects.get(pk=second.original_id)
    raw = _object(s3_server, blob)
    segment = 256 * 1024 + 16
    header = len(raw) - ((len(raw) - 16) // segment) * segment  # rough; refined below
    if damage == "flip":
        tampered = bytearray(raw)
        tampered[len(raw) // 2] ^= 0x01
        _put(s3_server, blob, bytes(tampered))
    elif damage == "truncate":
        _put(s3_server, blob, raw[:-100])
    elif damage == "reorder":
        from vault.crypto import SEGMENT_SIZE

        header = 16
        seg = SEGMENT_SIZE + 16
        body = raw[header:]
        assert len(body) > 2 * seg, "needs at least three segments"
        _put(s3_server, blob, raw[:header] + body[seg : 2 * seg] + body[:seg] + body[2 * seg :])
    else:
        _put(s3_server, blob, _object(s3_server, other))
    with clinic_context(clinic.id), pytest.raises(storage.BlobUnreadable):
        storage.blob_read(Blob.objects.get(pk=blob.pk))
    client = f.verified_client(practitioner)
    url = reverse("photo_original", kwargs={"clinic_slug": clinic.slug, "photo_id": first.pk})
    response = client.get(url)
    assert response.status_code == 404
    assert not response.content.startswith(b"\x89PNG")
    del header


def test_gps_and_orientation_6_come_out_upright_with_no_exif(people):
    clinic, practitioner, patient, episode = people
    # Landscape pixels with a red block top-left; orientation 6 means "rotate 90° clockwise
    # to view", so the upright image is portrait with the red block top-right.
    image = Image.new("RGB", (1200, 800), (230, 230, 230))
    image.paste((220, 20, 20), (0, 0, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "PhoneModel 12"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    photo = f.make_ready_photo(clinic, patient, episode, practitioner, data=out.getvalue())
    with clinic_context(clinic.id):
        for blob_id, long_side in ((photo.display_id, 1600), (photo.thumb_id, 400)):
            data = storage.blob_read(Blob.objects.get(pk=blob_id))
            rendition = Image.open(io.BytesIO(data))
            width, height = rendition.size
            assert height > width, "portrait after applying orientation 6"
            assert max(width, height) <= long_side
            assert not rendition.getexif()
            assert b"Exif" not in data and b"GPS" not in data and b"PhoneMaker" not in data
            r, g, b = rendition.convert("RGB").getpixel((width - 5, 5))
            assert r > 180 and g < 90, "the red block is top-right"


def test_rotating_the_master_key_rewraps_without_reencrypting(people, s3_server):
    clinic, practitioner, patient, episode = people
    photo = f.make_ready_photo(clinic, patient, episode, practitioner)
    with clinic_context(clinic.id):
        blob = Blob.objects.get(pk=photo.original_id)
    before = _object(s3_server, blob)
    from django.conf import settings
    from django.core.management import call_command

    new_master = "bmV3LW1hc3Rlci1rZXktZm9yLXJvdGF0aW9uLXRlc3Q="
    with override_settings(MASTER_KEY=new_master, MASTER_KEYS_PREVIOUS=[settings.MASTER_KEY]):
        call_command("rotate_keys", "--clinic", clinic.slug, "--new-clinic-key")
    # The old master is no longer needed; the object is unchanged and still readable.
    with override_settings(MASTER_KEY=new_master, MASTER_KEYS_PREVIOUS=[]):
        keys.forget_cached_keys()
        with clinic_context(clinic.id):
            blob = Blob.objects.get(pk=photo.original_id)
            assert blob.key_version == 2
            assert storage.blob_read(blob)[:3] == b"\xff\xd8\xff"
    assert _object(s3_server, blob) == before
    keys.forget_cached_keys()
    with clinic_context(clinic.id):
        assert AuditEvent.objects.filter(action="keys.rotated").count() == 1


def test_wrapped_key_moved_to_another_blob_does_not_unwrap(people):
    clinic, practitioner, patient, episode = people
    a = f.make_ready_photo(clinic, patient, episode, practitioner)
    b = f.make_ready_photo(clinic, patient, episode, practitioner)
    with clinic_context(clinic.id):
        blob_a = Blob.objects.get(pk=a.original_id)
        blob_b = Blob.objects.get(pk=b.original_id)
        blob_b.wrapped_key = blob_a.wrapped_key
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob_b)


def _row_locked(photo_id) -> bool:
    dsn = superuser_test_db_dsn()
    with psycopg.connect(dsn, autocommit=False) as conn:
        try:
            conn.execute("SELECT 1 FROM photos_photo WHERE id = %s FOR UPDATE NOWAIT", [photo_id])
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            conn.rollback()
    return False


def _upload(clinic, practitioner, patient, episode, data, name="photo.heic"):
    client = f.verified_client(practitioner)
    return uploaded_photo_id(client, clinic, patient, episode, name, data)


def _status(clinic, photo_id) -> str:
    with clinic_context(clinic.id):
        return Photo.objects.get(pk=photo_id).status


def _job(clinic, photo_id) -> Job:
    with clinic_context(clinic.id):
        return Job.objects.get(clinic=clinic, kwargs__photo_id=str(photo_id))


SKIPPED = "skipped: already done or running"


@pytest.mark.worker
def test_worker_killed_mid_processing_the_photo_becomes_ready_exactly_once(people, celery_worker):
    clinic, practitioner, patient, episode = people
    celery_worker.stop()  # queue the job first, so the kill lands mid-processing
    heic = images.heic(images.photo_like(4032, 3024))  # ~1 s to decode: time to kill it
    photo_id = _upload(clinic, practitioner, patient, episode, heic)
    celery_worker.start()
    assert wait_until(lambda: _row_locked(photo_id), timeout=60, step=0.02), "never started"
    os.kill(celery_worker.process.pid, signal.SIGKILL)
    celery_worker.process.wait(10)
    assert _status(clinic, photo_id) == PhotoStatus.PROCESSING
    assert _job(clinic, photo_id).attempts == 1
    celery_worker.start()
    # The killed delivery comes back after the visibility timeout; the outbox sweep also sends
    # the job again. Run the sweep now, twice, so duplicates are certain.
    for _ in range(2):
        assert outbox.resend_due(older_than=timedelta(0)) == 1
    assert wait_until(lambda: _status(clinic, photo_id) == PhotoStatus.READY, timeout=120)
    # The duplicates (a second sweep, and the redelivery of the killed message once its
    # visibility timeout passes) run and find the job done.
    assert wait_until(lambda: celery_worker.log_count(SKIPPED) >= 1, timeout=60)
    with clinic_context(clinic.id):
        photo = Photo.objects.get(pk=photo_id)
        processed = AuditEvent.objects.filter(action="photo.processed", target_id=photo_id)
        assert processed.count() == 1
        rendition_blobs = Blob.objects.filter(pk__in=[photo.display_id, photo.thumb_id])
        assert rendition_blobs.count() == 2
        assert Blob.objects.filter(clinic=clinic).count() == 3
    job = _job(clinic, photo_id)
    assert job.state == JobState.DONE and job.attempts >= 2


@pytest.mark.worker
def test_upload_accepted_during_an_s3_outage_completes_when_s3_is_back(people, celery_worker):
    clinic, practitioner, patient, episode = people
    # A SeaweedFS of this test's own: killed while the upload is accepted and retried, then
    # started again on the same ports with the objects it had (its bucket included).
    outage = S3Server(bucket="outage-bucket")
    outage.start()
    from django.conf import settings

    celery_worker.stop()
    celery_worker.extra_env = outage.app_env()
    try:
        with override_settings(STORAGES={**settings.STORAGES, "blobs": outage.blob_storage()}):
            outage.stop()
            photo_id = _upload(
                clinic,
                practitioner,
                patient,
                episode,
                image_bytes("JPEG"),
                name="during-outage.jpg",
            )
            with clinic_context(clinic.id):
                original = Photo.objects.get(pk=photo_id).original
                assert original.staged_ciphertext is not None  # kept, encrypted, in the DB
            celery_worker.start()
            # The worker tries, fails and retries, more than once, while S3 is down.
            assert wait_until(lambda: _job(clinic, photo_id).attempts >= 2, timeout=60)
            assert "StorageUnavailable" in _job(clinic, photo_id).last_error
            assert _status(clinic, photo_id) == PhotoStatus.PROCESSING
            outage.start()
            assert wait_until(
                lambda: _status(clinic, photo_id) == PhotoStatus.READY, timeout=120, step=0.2
            )
            with clinic_context(clinic.id):
                original = Photo.objects.get(pk=photo_id).original
                assert original.staged_ciphertext is None
                assert storage.blob_read(original)[:3] == b"\xff\xd8\xff"
    finally:
        celery_worker.stop()
        outage.close()
