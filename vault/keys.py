"""Key hierarchy: master key (or AWS KMS) -> clinic key (versioned) -> one data key per blob.

Each wrap binds its context as associated data, so a wrapped key copied to another clinic,
version or blob does not unwrap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinic.models import Clinic
from clinic.tenancy import clinic_context, service_write
from vault.crypto import KEY_SIZE, DecryptionError, new_data_key, unwrap_key, wrap_key
from vault.models import Blob, ClinicKey

CACHE_SECONDS = 300
_cache: dict[tuple[str, int], tuple[float, bytes]] = {}
_cache_lock = threading.Lock()


class KeyUnavailable(Exception):
    """A key needed to read an object is missing or shredded: the object's own state."""


class MasterKeyProblem(Exception):
    """The master key this process is configured with (MASTER_KEY, MASTER_KEYS_PREVIOUS) is
    missing, malformed, or not the one the clinic keys are wrapped by: an operator's error,
    never the reader's. Deliberately not a KeyUnavailable, so that no caller mistakes it for
    an unreadable object (vault/middleware.py answers it with a 503 page)."""


def _master_id(raw: bytes) -> str:
    return "master:" + hashlib.sha256(b"clinicphotos-master-id" + raw).hexdigest()[:12]


def _decoded_master(encoded: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MasterKeyProblem(f"{name} is not base64") from error
    if len(raw) != KEY_SIZE:
        raise MasterKeyProblem(f"{name} is missing or not {KEY_SIZE} bytes")
    return raw


def _master_keys() -> dict[str, bytes]:
    keys = {}
    for index, encoded in enumerate([settings.MASTER_KEY, *settings.MASTER_KEYS_PREVIOUS]):
        raw = _decoded_master(encoded, "MASTER_KEY" if index == 0 else "MASTER_KEYS_PREVIOUS")
        keys[_master_id(raw)] = raw
    return keys


def current_wrapper_id() -> str:
    """Which master (or KMS key) wraps new clinic keys."""
    if settings.KMS_KEY_ID:
        return f"kms:{settings.KMS_KEY_ID}"
    return _master_id(_decoded_master(settings.MASTER_KEY, "MASTER_KEY"))


def _kms_client():
    import boto3

    return boto3.client(
        "kms", region_name=settings.AWS_REGION, endpoint_url=settings.KMS_ENDPOINT_URL
    )


def _clinic_key_context(clinic_id, version: int) -> bytes:
    return f"clinic-key:{clinic_id}:v{version}".encode()


def _wrap_clinic_key(clinic_id, version: int, key: bytes) -> tuple[bytes, str]:
    wrapper = current_wrapper_id()
    if wrapper.startswith("kms:"):
        response = _kms_client().encrypt(
            KeyId=settings.KMS_KEY_ID,
            Plaintext=key,
            EncryptionContext={"clinic": str(clinic_id), "version": str(version)},
        )
        return response["CiphertextBlob"], wrapper
    master = _master_keys()[wrapper]
    return wrap_key(master, key, _clinic_key_context(clinic_id, version)), wrapper


def _unwrap_clinic_key(record: ClinicKey) -> bytes:
    wrapped = bytes(record.wrapped_key)
    if record.wrapped_by.startswith("kms:"):
        response = _kms_client().decrypt(
            CiphertextBlob=wrapped,
            EncryptionContext={"clinic": str(record.clinic_id), "version": str(record.version)},
        )
        return response["Plaintext"]
    master = _master_keys().get(record.wrapped_by)
    if master is None:
        raise MasterKeyProblem(
            f"clinic key v{record.version} is wrapped by {record.wrapped_by}, "
            "which is not configured (MASTER_KEY / MASTER_KEYS_PREVIOUS)"
        )
    try:
        return unwrap_key(master, wrapped, _clinic_key_context(record.clinic_id, record.version))
    except DecryptionError as error:
        raise MasterKeyProblem(
            f"clinic key v{record.version} does not unwrap under {record.wrapped_by}"
        ) from error


def key_state(*, check_clinics: bool = True) -> str:
    """``"ok"``, or what is wrong with the master key configuration, for /healthz: the keys
    must decode, and (``check_clinics``) every clinic's keys must be wrapped by a configured
    master or by KMS, read in each clinic's own RLS scope (one query per clinic)."""
    try:
        configured = set(_master_keys())
        current_wrapper_id()
    except MasterKeyProblem as error:
        return str(error)
    if not check_clinics:
        return "ok"
    for clinic_id in Clinic.objects.values_list("id", flat=True):
        with clinic_context(clinic_id):
            wrappers = set(
                ClinicKey.objects.filter(clinic_id=clinic_id)
                .values_list("wrapped_by", flat=True)
                .distinct()
            )
        unknown = {w for w in wrappers if not w.startswith("kms:")} - configured
        if unknown:
            return "clinic keys are wrapped by a master key that is not configured"
    return "ok"


def _cached(clinic_id, version: int, load) -> bytes:
    cache_key = (str(clinic_id), version)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    key = load()
    with _cache_lock:
        _cache[cache_key] = (now, key)
    return key


def cached_clinic_key(clinic_id, version: int) -> bytes | None:
    """The clinic key if this process holds it unexpired, else None; never loads it."""
    with _cache_lock:
        hit = _cache.get((str(clinic_id), version))
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    return None


def unwrap_data_key_from_memory(blob: Blob) -> bytes | None:
    """``unwrap_data_key`` with a clinic key this process already holds, or None."""
    if not blob.wrapped_key:
        return None
    kek = cached_clinic_key(blob.clinic_id, blob.key_version)
    if kek is None:
        return None
    try:
        return unwrap_key(kek, bytes(blob.wrapped_key), _data_key_context(blob.clinic_id, blob.id))
    except DecryptionError:
        return None


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


@transaction.atomic
def active_clinic_key(clinic_id) -> tuple[int, bytes]:
    """The clinic's current key version and key, created on first use."""
    record = (
        ClinicKey.objects.filter(clinic_id=clinic_id, retired_at__isnull=True)
        .order_by("-version")
        .first()
    )
    if record is None:
        # Serialise creation on the clinic's row so two first uploads make one key.
        Clinic.objects.select_for_update().filter(pk=clinic_id).exists()
        key = new_data_key()
        wrapped, wrapper = _wrap_clinic_key(clinic_id, 1, key)
        record, created = ClinicKey.objects.get_or_create(
            clinic_id=clinic_id,
            version=1,
            defaults={"wrapped_key": wrapped, "wrapped_by": wrapper},
        )
        if created:
            return 1, key
    return record.version, _cached(clinic_id, record.version, lambda: _unwrap_clinic_key(record))


def clinic_key(clinic_id, version: int) -> bytes:
    """A given version of the clinic's key (old versions stay readable until re-wrapped)."""

    def load() -> bytes:
        record = ClinicKey.objects.filter(clinic_id=clinic_id, version=version).first()
        if record is None:
            raise KeyUnavailable(f"clinic key v{version} does not exist")
        return _unwrap_clinic_key(record)

    return _cached(clinic_id, version, load)


def _data_key_context(clinic_id, blob_id: uuid.UUID) -> bytes:
    return f"data-key:{clinic_id}:{blob_id}".encode()


def wrap_data_key(clinic_id, blob_id: uuid.UUID, data_key: bytes) -> tuple[int, bytes]:
    version, kek = active_clinic_key(clinic_id)
    return version, wrap_key(kek, data_key, _data_key_context(clinic_id, blob_id))


def data_key_wrapper(clinic_id) -> Callable[[uuid.UUID, bytes], tuple[int, bytes]]:
    """``wrap_data_key`` for many objects of one clinic: the active key is looked up once."""
    version, kek = active_clinic_key(clinic_id)

    def wrap(blob_id: uuid.UUID, data_key: bytes) -> tuple[int, bytes]:
        return version, wrap_key(kek, data_key, _data_key_context(clinic_id, blob_id))

    return wrap


def unwrap_data_key(blob: Blob) -> bytes:
    if blob.wrapped_key is None:
        raise KeyUnavailable("this object was crypto-shredded")
    kek = clinic_key(blob.clinic_id, blob.key_version)
    try:
        return unwrap_key(kek, bytes(blob.wrapped_key), _data_key_context(blob.clinic_id, blob.id))
    except DecryptionError as error:
        raise KeyUnavailable("the data key does not unwrap for this object") from error


# --- rotation --------------------------------------------------------------------------------


def rewrap_clinic_keys(clinic_id) -> int:
    """Re-wrap the clinic's keys under the current master (or KMS key). Objects untouched."""
    count = 0
    wrapper = current_wrapper_id()
    for record in ClinicKey.objects.select_for_update().filter(clinic_id=clinic_id):
        if record.wrapped_by == wrapper:
            continue
        key = _unwrap_clinic_key(record)
        record.wrapped_key, record.wrapped_by = _wrap_clinic_key(clinic_id, record.version, key)
        record.save(update_fields=["wrapped_key", "wrapped_by"])
        count += 1
    return count


def rotate_clinic_key(clinic_id) -> tuple[int, int]:
    """Start a new clinic key version and re-wrap every live data key under it; the old version
    is retired. Returns (new version, data keys re-wrapped). Objects are not re-encrypted."""
    current = (
        ClinicKey.objects.select_for_update()
        .filter(clinic_id=clinic_id)
        .order_by("-version")
        .first()
    )
    version = (current.version + 1) if current else 1
    key = new_data_key()
    wrapped, wrapper = _wrap_clinic_key(clinic_id, version, key)
    ClinicKey.objects.create(
        clinic_id=clinic_id, version=version, wrapped_key=wrapped, wrapped_by=wrapper
    )
    rewrapped = 0
    for blob in (
        Blob.objects.select_for_update()
        .filter(clinic_id=clinic_id, wrapped_key__isnull=False)
        .exclude(key_version=version)
        .iterator(chunk_size=500)
    ):
        data_key = unwrap_data_key(blob)
        blob.wrapped_key = wrap_key(key, data_key, _data_key_context(clinic_id, blob.id))
        blob.key_version = version
        blob.save(update_fields=["wrapped_key", "key_version"])
        rewrapped += 1
    with service_write("key rotation retires the older versions; audited by its service"):
        ClinicKey.objects.filter(
            clinic_id=clinic_id, version__lt=version, retired_at__isnull=True
        ).update(retired_at=timezone.now())
    forget_cached_keys()
    return version, rewrapped
