"""The clinic's export signing keys (Ed25519): the first is made on first use, its private half
kept as an encrypted vault object like every other secret; a rotation retires the current key
(never deletes it) and makes a new one. Every key, current and retired, is published with its
dates at the clinic's public key page (``key_page_url``), so a recipient can trust a bundle's
signature from outside the bundle.

``openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig``
checks a signature made here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from clinic.models import Clinic, User
from exports.models import ExportBlobPurpose, ExportSigningKey
from vault import storage


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def fingerprint_of_pem(pem: bytes) -> str | None:
    """The SHA-256 of the raw 32-byte Ed25519 key in ``pem`` (what VERIFY.txt's openssl and
    sha256sum pipeline prints), or None when it is not an Ed25519 public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, Ed25519PublicKey):
        return None
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signing_key_get(*, clinic: Clinic) -> ExportSigningKey | None:
    """The clinic's current signing key, if it has made one (the first export makes it)."""
    return ExportSigningKey.objects.filter(clinic=clinic, retired_at__isnull=True).first()


def signing_keys(*, clinic: Clinic) -> list[ExportSigningKey]:
    """Every key the clinic has signed with, newest first: the current one and the retired."""
    return list(ExportSigningKey.objects.filter(clinic=clinic).order_by("-created_at"))


def _make_key(*, clinic: Clinic) -> ExportSigningKey:
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
    return ExportSigningKey.objects.create(
        clinic=clinic,
        private_key=blob,
        public_key_pem=pem,
        fingerprint=hashlib.sha256(_raw_public(private)).hexdigest(),
    )


def signing_key_ensure(*, clinic: Clinic) -> ExportSigningKey:
    """The clinic's current signing key, made (and audited) the first time an export needs it."""
    existing = signing_key_get(clinic=clinic)
    if existing is not None:
        return existing
    # Serialise creation on the clinic's row so two first exports make one key.
    Clinic.objects.select_for_update().filter(pk=clinic.pk).exists()
    existing = signing_key_get(clinic=clinic)
    if existing is not None:
        return existing
    key = _make_key(clinic=clinic)
    record(
        clinic=clinic,
        action="export.signing_key_created",
        target=key,
        actor_label="system",
        details={"fingerprint": key.fingerprint, "algorithm": "Ed25519"},
    )
    return key


def signing_key_rotate(
    *, clinic: Clinic, by: User | None, context: AuditContext | None = None
) -> ExportSigningKey:
    """Retire the current key (it stays published, so the bundles it signed stay verifiable)
    and make a new one for the exports to come; audited with both fingerprints."""
    Clinic.objects.select_for_update().filter(pk=clinic.pk).exists()
    old = signing_key_get(clinic=clinic)
    if old is not None:
        old.retired_at = timezone.now()
        old.save(update_fields=["retired_at"])
    key = _make_key(clinic=clinic)
    record(
        clinic=clinic,
        action="export.signing_key_rotated",
        actor=by,
        actor_label="" if by else "system (rotate_export_key command)",
        context=context,
        target=key,
        details={
            "fingerprint": key.fingerprint,
            "retired_fingerprint": old.fingerprint if old else None,
            "algorithm": "Ed25519",
        },
    )
    return key


def signer(key: ExportSigningKey) -> Callable[[bytes], bytes]:
    """A function making raw 64-byte Ed25519 signatures with the clinic's key, decrypted now
    (in the clinic's context) and kept only in that function."""
    private = Ed25519PrivateKey.from_private_bytes(storage.blob_read(key.private_key))
    return private.sign


def key_page_url(clinic: Clinic) -> str:
    """The stable public address listing the clinic's keys, current and retired, with dates."""
    path = reverse("export_keys", kwargs={"clinic": clinic.slug})
    return settings.SITE_URL.rstrip("/") + path


def key_url(clinic: Clinic, key: ExportSigningKey) -> str:
    """The stable public address of one key's PEM file (what VERIFY.txt's curl fetches)."""
    path = reverse("export_key_pem", kwargs={"clinic": clinic.slug, "fingerprint": key.fingerprint})
    return settings.SITE_URL.rstrip("/") + path
