"""The clinic's export signing key (Ed25519): made on first use, its private half kept as an
encrypted vault object like every other secret, its public half published in each bundle.

``openssl pkeyutl -verify -pubin -inkey export-public-key.pem -rawin -in manifest.json
-sigfile manifest.sig`` checks a signature made here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.services import record
from clinic.models import Clinic
from exports.models import ExportBlobPurpose, ExportSigningKey
from vault import storage


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def signing_key_get(*, clinic: Clinic) -> ExportSigningKey | None:
    """The clinic's signing key, if it has made one (the first export makes it)."""
    return ExportSigningKey.objects.filter(clinic=clinic).first()


def signing_key_ensure(*, clinic: Clinic) -> ExportSigningKey:
    """The clinic's signing key, made (and audited) the first time an export needs it."""
    existing = signing_key_get(clinic=clinic)
    if existing is not None:
        return existing
    # Serialise creation on the clinic's row so two first exports make one key.
    Clinic.objects.select_for_update().filter(pk=clinic.pk).exists()
    existing = signing_key_get(clinic=clinic)
    if existing is not None:
        return existing
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    blob = storage.blob_store(
        clinic_id=clinic.pk, purpose=ExportBlobPurpose.SIGNING_KEY, data=raw_private
    )
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key = ExportSigningKey.objects.create(
        clinic=clinic,
        private_key=blob,
        public_key_pem=pem,
        fingerprint=hashlib.sha256(_raw_public(private)).hexdigest(),
    )
    record(
        clinic=clinic,
        action="export.signing_key_created",
        target=key,
        actor_label="system",
        details={"fingerprint": key.fingerprint, "algorithm": "Ed25519"},
    )
    return key


def signer(key: ExportSigningKey) -> Callable[[bytes], bytes]:
    """A function making raw 64-byte Ed25519 signatures with the clinic's key, decrypted now
    (in the clinic's context) and kept only in that function."""
    private = Ed25519PrivateKey.from_private_bytes(storage.blob_read(key.private_key))
    return private.sign
