"""Renditions shown again and again are read from S3 once per process: the vault keeps their
ciphertext (never plaintext) for a while, and still authenticates it on every read."""

from __future__ import annotations

import pytest

from clinic.tenancy import clinic_context
from photos.models import BlobPurpose
from tests import factories as f
from vault import storage


@pytest.fixture
def clinic(db):
    return f.make_clinic()


def _delete_object(s3_server, blob) -> None:
    s3_server.client.delete_object(Bucket=s3_server.bucket, Key=blob.object_name)


def test_a_cached_read_does_not_go_back_to_storage(clinic, s3_server):
    with clinic_context(clinic.id):
        blob = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.THUMB, data=b"thumb")
        assert storage.blob_read(blob, cache=True) == b"thumb"
        _delete_object(s3_server, blob)  # S3 unreachable or the object gone: served all the same
        assert storage.blob_read(blob, cache=True) == b"thumb"
        # Reads that do not ask for the cache (originals, exports) always go to storage.
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob)


def test_a_rewritten_blob_is_not_served_from_the_cache(clinic, s3_server):
    with clinic_context(clinic.id):
        first = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.THUMB, data=b"old")
        assert storage.blob_read(first, cache=True) == b"old"
        # A retried rendition task stores the same id again, with a new data key.
        again = storage.blob_store(
            clinic_id=clinic.id, purpose=BlobPurpose.THUMB, data=b"new", blob_id=first.pk
        )
        assert storage.blob_read(again, cache=True) == b"new"


def test_a_shredded_blob_is_refused_even_when_its_ciphertext_was_cached(clinic, s3_server):
    with clinic_context(clinic.id):
        blob = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.THUMB, data=b"gone")
        assert storage.blob_read(blob, cache=True) == b"gone"
        storage.blob_shred(blob)
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob, cache=True)


def test_large_objects_are_not_cached(clinic, s3_server):
    big = b"x" * (storage._CiphertextCache.LARGEST + 1)
    with clinic_context(clinic.id):
        blob = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.DISPLAY, data=big)
        assert storage.blob_read(blob, cache=True) == big
        _delete_object(s3_server, blob)
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob, cache=True)
