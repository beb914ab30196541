"""Encrypted blob storage: every object a clinic stores (photos, renditions, signatures, PDFs,
exports) goes through here, so nothing reaches disk or S3 in the clear. Large objects stream:
``blob_store_stream`` encrypts while it uploads and ``blob_iter`` decrypts while it downloads,
one segment at a time.

Objects are named by an opaque random id, encrypted with their own data key, and bound by
associated data to their clinic, id and purpose: ciphertext moved to another record fails to
decrypt.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import File
from django.core.files.storage import storages
from django.utils import timezone

from clinic import revocation
from clinic.tenancy import service_write
from vault import keys
from vault.crypto import (
    DecryptionError,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_iter,
    new_data_key,
)
from vault.models import Blob


class StorageUnavailable(Exception):
    """Blob storage could not be reached; the operation can be retried later."""


class BlobUnreadable(Exception):
    """The object is missing, altered, moved from another record, or its key was shredded."""


STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


def _storage():
    return storages["blobs"]


def associated_data(blob: Blob) -> bytes:
    return f"blob:{blob.clinic_id}:{blob.id}:{blob.purpose}".encode()


class _IterReader(io.RawIOBase):
    """A read-only, unseekable file over an iterator of byte strings (the ciphertext as it is
    produced), so storages upload it in parts without holding the whole object."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        # A view, so handing on a segment in small reads does not copy its rest each time.
        self._pending = memoryview(b"")
        self.written = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._pieces))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.written += n
        return n


def _write(name: str, content: bytes | BinaryIO) -> None:
    storage = _storage()
    # Names are unique ids; a retried task may write the same id again, which replaces it.
    if storage.exists(name):
        storage.delete(name)
    source = io.BytesIO(content) if isinstance(content, bytes | bytearray) else content
    saved = storage.save(name, File(source, name=name))
    if saved != name:  # pragma: no cover - would mean the storage renamed an opaque id
        raise StorageUnavailable(f"storage stored {name!r} as {saved!r}")


def blob_seal(
    *,
    clinic_id,
    purpose: str,
    data: bytes,
    blob_id: uuid.UUID | None = None,
    wrap: Callable[[uuid.UUID, bytes], tuple[int, bytes]] | None = None,
) -> tuple[Blob, bytes]:
    """An unsaved row for ``data`` (its data key wrapped) and the ciphertext to store under its
    ``object_name``: what ``blob_store`` does before writing, for a caller that writes many
    objects and rows in bulk (``seed_scale``, with ``wrap`` from ``keys.data_key_wrapper``)."""
    blob = Blob(id=blob_id or uuid.uuid4(), clinic_id=clinic_id, purpose=purpose, size=len(data))
    data_key = new_data_key()
    if wrap is None:
        blob.key_version, blob.wrapped_key = keys.wrap_data_key(clinic_id, blob.id, data_key)
    else:
        blob.key_version, blob.wrapped_key = wrap(blob.id, data_key)
    return blob, encrypt_bytes(data_key, associated_data(blob), data)


def blob_write_new(blob: Blob, ciphertext: bytes) -> None:
    """Write a sealed object under its new, unique name (no check for an earlier one)."""
    try:
        saved = _storage().save(
            blob.object_name, File(io.BytesIO(ciphertext), name=blob.object_name)
        )
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error
    if saved != blob.object_name:  # pragma: no cover
        raise StorageUnavailable(f"storage stored {blob.object_name!r} as {saved!r}")


def blob_store(
    *,
    clinic_id,
    purpose: str,
    data: bytes,
    blob_id: uuid.UUID | None = None,
    stage_if_unavailable: bool = False,
) -> Blob:
    """Encrypt ``data`` under a fresh data key and store it. With ``stage_if_unavailable`` an
    unreachable storage keeps the ciphertext in the database until ``blob_flush_staged``."""
    blob, ciphertext = blob_seal(clinic_id=clinic_id, purpose=purpose, data=data, blob_id=blob_id)
    try:
        _write(blob.object_name, ciphertext)
    except STORAGE_ERRORS as error:
        if not stage_if_unavailable:
            raise StorageUnavailable(str(error)) from error
        blob.staged_ciphertext = ciphertext
    with service_write("a retried task replaces the row of the rendition it rewrites"):
        Blob.objects.filter(pk=blob.id).delete()
    blob.save(force_insert=True)
    return blob


def blob_flush_staged(blob: Blob) -> None:
    """Move a staged ciphertext into blob storage (raises StorageUnavailable to retry later)."""
    if blob.staged_ciphertext is None:
        return
    try:
        _write(blob.object_name, bytes(blob.staged_ciphertext))
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error
    blob.staged_ciphertext = None
    blob.save(update_fields=["staged_ciphertext"])


def blob_store_stream(*, clinic_id, purpose: str, src: BinaryIO) -> Blob:
    """Encrypt a large plaintext read from ``src`` while it is uploaded, segment by segment
    (an export archive): neither the plaintext nor the ciphertext is ever whole in memory."""
    blob = Blob(id=uuid.uuid4(), clinic_id=clinic_id, purpose=purpose, size=0)
    data_key = new_data_key()
    blob.key_version, blob.wrapped_key = keys.wrap_data_key(clinic_id, blob.id, data_key)
    counted = _CountingReader(src)
    try:
        # Both read like files; BinaryIO is a class, not a protocol.
        _write(
            blob.object_name,
            _IterReader(encrypt_iter(data_key, associated_data(blob), counted)),  # type: ignore[arg-type]
        )
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error
    blob.size = counted.count
    blob.save(force_insert=True)
    return blob


class _CountingReader:
    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.src.read(size)
        self.count += len(chunk)
        return chunk


def _open_ciphertext(blob: Blob) -> BinaryIO:
    """A stream of the stored ciphertext: S3 objects are read as the response body arrives,
    not downloaded first."""
    if blob.staged_ciphertext is not None:
        return io.BytesIO(bytes(blob.staged_ciphertext))
    storage = _storage()
    try:
        bucket = getattr(storage, "bucket", None)
        if bucket is not None:
            # The client itself: bucket.Object() builds a boto3 resource on every call, which
            # cost a thumbnail about a millisecond of CPU under `make load`.
            return bucket.meta.client.get_object(
                Bucket=bucket.name, Key=storage._normalize_name(blob.object_name)
            )["Body"]
        return storage.open(blob.object_name, "rb")
    except FileNotFoundError as error:
        raise BlobUnreadable("the object is missing from storage") from error
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise BlobUnreadable("the object is missing from storage") from error
        raise StorageUnavailable(str(error)) from error
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error


class _CiphertextCache:
    """Recently read small objects' ciphertext, per process, least recently used out first.

    Rendition objects never change once written (a rewrite makes a new Blob row with a new
    wrapped key, which is part of the cache key), and a patient page asks for the same
    thumbnails again and again; fetching each from S3 cost a thumbnail more than its database
    work under `make load`. Only ciphertext is kept: every read still unwraps the key and
    authenticates the bytes, a shredded key still refuses, and nothing stays past ``TTL``.
    """

    BUDGET = 16 * 2**20
    LARGEST = 512 * 1024
    TTL = 300.0

    def __init__(self) -> None:
        self._items: OrderedDict[tuple, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(blob: Blob) -> tuple:
        return (blob.pk, blob.key_version, bytes(blob.wrapped_key or b""))

    def get(self, blob: Blob) -> bytes | None:
        key = self.key(blob)
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > self.TTL:
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, blob: Blob, ciphertext: bytes) -> None:
        if len(ciphertext) > self.LARGEST:
            return
        key = self.key(blob)
        with self._lock:
            self._drop(key)
            self._items[key] = (time.monotonic(), ciphertext)
            self._bytes += len(ciphertext)
            while self._bytes > self.BUDGET:
                self._drop(next(iter(self._items)))

    def forget(self, blob: Blob) -> None:
        with self._lock:
            self._drop(self.key(blob))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _drop(self, key: tuple) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])


_cache = _CiphertextCache()


def _ciphertext(blob: Blob) -> bytes:
    handle = _open_ciphertext(blob)
    try:
        return handle.read()
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error
    finally:
        handle.close()


def blob_read(blob: Blob, *, cache: bool = False) -> bytes:
    """The decrypted contents, or BlobUnreadable when anything does not verify. With
    ``cache`` a small object's ciphertext may come from (and go to) this process's cache of
    recent reads (for renditions shown again and again; see ``_CiphertextCache``)."""
    try:
        data_key = keys.unwrap_data_key(blob)
        ciphertext = _cache.get(blob) if cache else None
        fetched = ciphertext is None
        if ciphertext is None:
            ciphertext = _ciphertext(blob)
        plaintext = decrypt_bytes(data_key, associated_data(blob), ciphertext)
    except (DecryptionError, keys.KeyUnavailable) as error:
        _cache.forget(blob)
        raise BlobUnreadable(str(error)) from error
    if cache and fetched and blob.staged_ciphertext is None:
        _cache.put(blob, ciphertext)
    return plaintext


def blob_read_from_memory(blob: Blob) -> bytes | None:
    """``blob_read(cache=True)`` using only what this process holds (its clinic key and
    ciphertext caches), or None when either is missing or anything does not verify: for the
    few answers given before the database is asked (photos.thumbnails). The bytes are still
    authenticated; the caller must know the blob row is current (clinic.revocation)."""
    data_key = keys.unwrap_data_key_from_memory(blob)
    if data_key is None:
        return None
    ciphertext = _cache.get(blob)
    if ciphertext is None:
        return None
    try:
        return decrypt_bytes(data_key, associated_data(blob), ciphertext)
    except DecryptionError:
        _cache.forget(blob)
        return None


def blob_iter(blob: Blob) -> Iterator[bytes]:
    """The decrypted contents segment by segment, streamed from storage: memory stays flat for
    objects of any size. Each segment is verified before it is yielded."""
    try:
        data_key = keys.unwrap_data_key(blob)
    except keys.KeyUnavailable as error:
        raise BlobUnreadable(str(error)) from error
    handle = _open_ciphertext(blob)
    try:
        yield from decrypt_stream(data_key, associated_data(blob), handle)
    except DecryptionError as error:
        raise BlobUnreadable(str(error)) from error
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error
    finally:
        handle.close()


def blob_iter_prepared(blob: Blob) -> Callable[[], Iterator[bytes]]:
    """Unwrap the object's key now, in the caller's clinic context, and return a function that
    streams it later like ``blob_iter`` without touching the database: for producers read by
    another thread (an S3 upload reads its source in a worker thread of its own)."""
    try:
        data_key = keys.unwrap_data_key(blob)
    except keys.KeyUnavailable as error:
        raise BlobUnreadable(str(error)) from error

    def stream() -> Iterator[bytes]:
        handle = _open_ciphertext(blob)
        try:
            yield from decrypt_stream(data_key, associated_data(blob), handle)
        except DecryptionError as error:
            raise BlobUnreadable(str(error)) from error
        except STORAGE_ERRORS as error:
            raise StorageUnavailable(str(error)) from error
        finally:
            handle.close()

    return stream


def blob_shred(blob: Blob) -> None:
    """Crypto-shred: forget the data key (the ciphertext becomes noise), then delete the object."""
    _cache.forget(blob)
    revocation.revoke(revocation.clinic_scope(blob.clinic_id))  # other processes' memory
    blob.wrapped_key = None
    blob.staged_ciphertext = None
    blob.shredded_at = timezone.now()
    blob.save(update_fields=["wrapped_key", "staged_ciphertext", "shredded_at"])
    # The key is gone; an object left behind by an outage is unreadable noise.
    with contextlib.suppress(*STORAGE_ERRORS):
        _storage().delete(blob.object_name)


def blobs_forget_keys(*, clinic_id, blob_ids: Iterable[uuid.UUID]) -> int:
    """Crypto-shred many objects at once, in the caller's transaction: their data keys (and any
    ciphertext staged in the database) are forgotten, so no copy of the objects can be read
    again. The objects themselves are left for ``blob_delete_objects`` (after commit, retried).
    Returns how many keys were forgotten; the caller audits why."""
    revocation.revoke(revocation.clinic_scope(clinic_id))  # copies held in memory too
    with service_write("crypto-shredding is audited by the service that erases"):
        return Blob.objects.filter(
            clinic_id=clinic_id, pk__in=list(blob_ids), wrapped_key__isnull=False
        ).update(wrapped_key=None, staged_ciphertext=None, shredded_at=timezone.now())


def blob_delete_objects(*, clinic_id, blob_ids: Iterable[uuid.UUID]) -> int:
    """Delete the stored objects of shredded blobs (deleting one already gone is fine). Raises
    StorageUnavailable when storage cannot be reached, so the caller's job is retried; refuses
    a blob whose key is still live (that would lose readable data)."""
    blobs = list(Blob.objects.filter(clinic_id=clinic_id, pk__in=list(blob_ids)))
    live = [str(b.pk) for b in blobs if not b.is_shredded]
    if live:
        raise ValueError(f"refusing to delete objects whose keys are live: {live[:3]}")
    storage = _storage()
    for blob in blobs:
        try:
            storage.delete(blob.object_name)
        except STORAGE_ERRORS as error:
            raise StorageUnavailable(str(error)) from error
    return len(blobs)
