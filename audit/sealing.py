"""Sealing one patient's personal detail for one event: the per-patient keys and the
AES-256-GCM around them. The reading API and erasure are in ``audit.personal``.

Patient keys are wrapped by a key HKDF-derived from ``MASTER_KEY`` for each clinic, the way
``clinic.otp_secrets`` derives its own: the vault's clinic keys sit on the floor above the
trail (the vault records audit events), so the trail cannot borrow them.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from audit.models import PatientKey

PATIENT_LABEL = "patient"
KEK_LABEL = b"audit-patient-keys v1"
SEAL_VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
# Detail keys that would name or reach a patient: ``record`` refuses them in the clear
# details of a patient's event (they go in ``personal=``).
PERSONAL_DETAIL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "sent_to",
        "signer_name",
        "recipient",
        "ip",
        "user_agent",
    }
)


class PersonalUnreadable(Exception):
    """A patient key that no configured master key unwraps, or sealed detail that was altered
    or moved to another event."""


# --- keys ------------------------------------------------------------------------------------


@cache
def _kek(master_b64: str, clinic_id: str) -> bytes:
    info = KEK_LABEL + b"|clinic:" + clinic_id.encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(
        base64.b64decode(master_b64)
    )


def _masters() -> list[str]:
    return [settings.MASTER_KEY, *settings.MASTER_KEYS_PREVIOUS]


def _wrap_aad(clinic_id, patient_id) -> bytes:
    return f"patient-key:{clinic_id}:{patient_id}".encode()


def wrap(clinic_id, patient_id, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    kek = _kek(settings.MASTER_KEY, str(clinic_id))
    return nonce + AESGCM(kek).encrypt(nonce, key, _wrap_aad(clinic_id, patient_id))


def unwrap(record: PatientKey, masters: list[str] | None = None) -> bytes:
    # Callers pass only keys not destroyed (wrapped_key is None once erased).
    wrapped = bytes(record.wrapped_key)  # type: ignore[arg-type]
    nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
    aad = _wrap_aad(record.clinic_id, record.patient_id)
    for master in masters or _masters():
        try:
            return AESGCM(_kek(master, str(record.clinic_id))).decrypt(nonce, body, aad)
        except InvalidTag:
            continue
    raise PersonalUnreadable(
        f"the key of patient {record.patient_id} does not unwrap under any configured master key"
    )


def _live_key(clinic_id: uuid.UUID, patient_id: uuid.UUID) -> bytes | None:
    """The patient's key, made on first use; None once destroyed. The caller holds the
    clinic's chain lock (``record``), so two first events cannot make two keys."""
    found = PatientKey.objects.filter(clinic_id=clinic_id, patient_id=patient_id).first()
    if found is None:
        key = AESGCM.generate_key(bit_length=256)
        PatientKey.objects.create(
            clinic_id=clinic_id, patient_id=patient_id, wrapped_key=wrap(clinic_id, patient_id, key)
        )
        return key
    if found.wrapped_key is None:
        return None
    return unwrap(found)


# --- sealing ---------------------------------------------------------------------------------


def _seal_aad(clinic_id, event_id) -> bytes:
    # Bound to its event: sealed detail copied onto another event does not open.
    return f"audit-personal:{clinic_id}:{event_id}".encode()


def seal_for_event(
    *, clinic_id: uuid.UUID, patient_id: uuid.UUID, event_id: uuid.UUID, personal: dict
) -> bytes | None:
    """``personal`` sealed for one event under the patient's key; None (nothing kept) when
    the patient's key was destroyed by an erasure."""
    key = _live_key(clinic_id, patient_id)
    if key is None:
        return None
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(personal, sort_keys=True, separators=(",", ":"), default=str).encode()
    return (
        SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, _seal_aad(clinic_id, event_id))
    )


def open_sealed(key: bytes, sealed: bytes, clinic_id, event_id) -> dict[str, Any]:
    sealed = bytes(sealed)
    if sealed[:1] != SEAL_VERSION:
        raise PersonalUnreadable(f"event {event_id}: unknown sealed format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        plaintext = AESGCM(key).decrypt(nonce, body, _seal_aad(clinic_id, event_id))
    except InvalidTag:
        raise PersonalUnreadable(f"event {event_id}: sealed detail failed authentication") from None
    return json.loads(plaintext)
