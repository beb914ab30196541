"""Encrypted objects (blobs) and the clinic keys that protect them.

The vault knows nothing of photos or consent: its users name each object's purpose (a short
label bound into the ciphertext's associated data, so it never changes once written). The
tables keep the names they were created with (``photos_blob``, ``photos_clinickey``) when the
vault moved out of photos: bytes and rows stayed where they were.
"""

from __future__ import annotations

import uuid

from django.db import models

from clinic.tenancy import TenantManager


class ClinicKey(models.Model):
    """One version of a clinic's key-encryption key, itself wrapped by the master key (or KMS).
    Data keys of the clinic's blobs are wrapped by it; rotating re-wraps, never re-encrypts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField()
    wrapped_by = models.CharField(max_length=120, help_text="master key id or kms:<key id>")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        db_table = "photos_clinickey"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="clinickey_version_unique")
        ]

    def __str__(self) -> str:
        return f"key v{self.version} of clinic {self.clinic_id}"


class Blob(models.Model):
    """One encrypted object in blob storage. The object's name is its opaque id; its data key
    lives here, wrapped. Shredding forgets the key, which makes the ciphertext unreadable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(max_length=20, help_text="set by the user of the vault")
    key_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField(null=True)
    size = models.BigIntegerField(help_text="plaintext bytes")
    # Ciphertext kept here only while blob storage was unreachable; the worker moves it out.
    staged_ciphertext = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        db_table = "photos_blob"

    def __str__(self) -> str:
        return f"{self.purpose} blob {self.id}"

    @property
    def object_name(self) -> str:
        return self.id.hex

    @property
    def is_shredded(self) -> bool:
        return self.wrapped_key is None
