"""Large objects stream through the vault: written while they are encrypted and read while
they are decrypted, segment by segment, from the S3 server as from local disk."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import storages
from django.test import override_settings

from clinic.tenancy import clinic_context
from vault import storage
from vault.crypto import SEGMENT_SIZE, TAG_SIZE
from vault.models import Blob

PLAINTEXT = bytes(i % 253 for i in range(SEGMENT_SIZE * 4 + 123))


class Source(io.RawIOBase):
    """A plaintext source that records the largest read it was asked for."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.largest = data, 0, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else size
        self.largest = max(self.largest, size)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


def _count_s3_reads(monkeypatch) -> dict[str, int]:
    """Count every ciphertext byte received from the S3 server (botocore's response bodies)."""
    from botocore.response import StreamingBody

    received = {"bytes": 0}
    readinto, read = StreamingBody.readinto, StreamingBody.read

    def counting_readinto(self, buffer):
        n = readinto(self, buffer)
        received["bytes"] += n
        return n

    def counting_read(self, amt=None):
        chunk = read(self, amt)
        received["bytes"] += len(chunk)
        return chunk

    monkeypatch.setattr(StreamingBody, "readinto", counting_readinto)
    monkeypatch.setattr(StreamingBody, "read", counting_read)
    return received


def _store_and_check(clinic, monkeypatch, expect_s3: bool) -> Blob:
    source = Source(PLAINTEXT)
    with clinic_context(clinic.id):
        blob = storage.blob_store_stream(clinic_id=clinic.id, purpose="export", src=source)
        assert source.largest <= SEGMENT_SIZE, "the plaintext is read a segment at a time"
        assert blob.size == len(PLAINTEXT)
        assert storage.blob_read(Blob.objects.get(pk=blob.pk)) == PLAINTEXT

        received = _count_s3_reads(monkeypatch)
        pieces = storage.blob_iter(blob)
        first = next(pieces)
        assert first == PLAINTEXT[:SEGMENT_SIZE]
        if expect_s3:
            # Reading one segment ahead (to know which is last) is all that was fetched so far.
            assert 0 < received["bytes"] <= 16 + 2 * (SEGMENT_SIZE + TAG_SIZE) < len(PLAINTEXT)
        assert first + b"".join(pieces) == PLAINTEXT
    return blob


@pytest.mark.django_db
def test_large_object_streams_to_and_from_the_s3_server(cast, s3_server, monkeypatch):
    blob = _store_and_check(cast.clinic_a, monkeypatch, expect_s3=True)
    raw = s3_server.client.get_object(Bucket=s3_server.bucket, Key=blob.object_name)["Body"].read()
    assert raw[:4] == b"CPS1" and PLAINTEXT[:4096] not in raw


@pytest.mark.django_db
def test_large_object_streams_to_and_from_local_disk(cast, tmp_path, monkeypatch):
    local = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path), "base_url": None},
    }
    with override_settings(STORAGES={**storages.backends, "blobs": local}):
        blob = _store_and_check(cast.clinic_a, monkeypatch, expect_s3=False)
        assert (tmp_path / blob.object_name).read_bytes()[:4] == b"CPS1"


@pytest.mark.django_db
def test_a_missing_object_is_unreadable_not_an_outage(cast, s3_server):
    with clinic_context(cast.clinic_a.id):
        blob = storage.blob_store(clinic_id=cast.clinic_a.id, purpose="pdf", data=b"%PDF-1.7")
        s3_server.client.delete_object(Bucket=s3_server.bucket, Key=blob.object_name)
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob)
        with pytest.raises(storage.BlobUnreadable):
            b"".join(storage.blob_iter(blob))
