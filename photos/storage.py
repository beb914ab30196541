"""Encrypted blob storage: every object a clinic stores (photos, renditions, signatures, PDFs,
exports) goes through here, so nothing reaches disk or S3 in the clear.

Objects are named by an opaque random id, encrypted with their own data key, and bound by
associated data to their clinic, id and purpose: ciphertext moved to another record fails to
decrypt.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import File
from django.core.files.storage import storages
from django.utils import timezone

from photos import keys
from photos.crypto import (
    DecryptionError,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    new_data_key,
)
from photos.models import Blob


class StorageUnavailable(Exception):
    """Blob storage could not be reached; the operation can be retried later."""


class BlobUnreadable(Exception):
    """The object is missing, altered, moved from another record, or its key was shredded."""


STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


def _storage():
    return storages["blobs"]


def associated_data(blob: Blob) -> bytes:
    return f"blob:{blob.clinic_id}:{blob.id}:{blob.purpose}".encode()


def _write(name: str, ciphertext: bytes) -> None:
    storage = _storage()
    # Names are unique ids; a retried task may write the same id again, which replaces it.
    if storage.exists(name):
        storage.delete(name)
    saved = storage.save(name, File(io.BytesIO(ciphertext), name=name))
    if saved != name:  # pragma: no cover - would mean the storage renamed an opaque id
        raise StorageUnavailable(f"storage stored {name!r} as {saved!r}")


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
    blob = Blob(id=blob_id or uuid.uuid4(), clinic_id=clinic_id, purpose=purpose, size=len(data))
    data_key = new_data_key()
    blob.key_version, blob.wrapped_key = keys.wrap_data_key(clinic_id, blob.id, data_key)
    ciphertext = encrypt_bytes(data_key, associated_data(blob), data)
    try:
        _write(blob.object_name, ciphertext)
    except STORAGE_ERRORS as error:
        if not stage_if_unavailable:
            raise StorageUnavailable(str(error)) from error
        blob.staged_ciphertext = ciphertext
    Blob.objects.filter(pk=blob.id).delete()  # a retried task replaces its earlier row
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


def _ciphertext(blob: Blob) -> bytes:
    if blob.staged_ciphertext is not None:
        return bytes(blob.staged_ciphertext)
    try:
        with _storage().open(blob.object_name, "rb") as handle:
            return handle.read()
    except FileNotFoundError as error:
        raise BlobUnreadable("the object is missing from storage") from error
    except STORAGE_ERRORS as error:
        raise StorageUnavailable(str(error)) from error


def blob_read(blob: Blob) -> bytes:
    """The decrypted contents, or BlobUnreadable when anything does not verify."""
    try:
        data_key = keys.unwrap_data_key(blob)
        return decrypt_bytes(data_key, associated_data(blob), _ciphertext(blob))
    except (DecryptionError, keys.KeyUnavailable) as error:
        raise BlobUnreadable(str(error)) from error


def blob_iter(blob: Blob) -> Iterator[bytes]:
    """The decrypted contents segment by segment (flat memory for large exports)."""
    try:
        data_key = keys.unwrap_data_key(blob)
    except keys.KeyUnavailable as error:
        raise BlobUnreadable(str(error)) from error
    try:
        yield from decrypt_stream(data_key, associated_data(blob), io.BytesIO(_ciphertext(blob)))
    except DecryptionError as error:
        raise BlobUnreadable(str(error)) from error


def blob_shred(blob: Blob) -> None:
    """Crypto-shred: forget the data key (the ciphertext becomes noise), then delete the object."""
    blob.wrapped_key = None
    blob.staged_ciphertext = None
    blob.shredded_at = timezone.now()
    blob.save(update_fields=["wrapped_key", "staged_ciphertext", "shredded_at"])
    # The key is gone; an object left behind by an outage is unreadable noise.
    with contextlib.suppress(*STORAGE_ERRORS):
        _storage().delete(blob.object_name)
