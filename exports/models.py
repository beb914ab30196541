"""Evidence exports: one patient's record (or one treatment's) as a signed, verifiable ZIP,
and the clinic's export signing key."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.text import slugify

from clinic.tenancy import TenantManager


class ExportReason(models.TextChoices):
    CLAIM = "claim", "Insurance claim"
    COMPLAINT = "complaint", "Complaint"
    SOLICITOR = "solicitor", "Solicitor request"
    REGULATOR = "regulator", "Regulator"
    SUBJECT_ACCESS = "subject_access", "Subject-access request (the patient's own copy)"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Being prepared"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Could not be built"
    EXPIRED = "expired", "Expired and deleted"


class ExportBlobPurpose(models.TextChoices):
    """What exports keep in the vault; the labels are bound into their ciphertext."""

    ARCHIVE = "export", "Export archive"
    SIGNING_KEY = "export-key", "Export signing key"


class ExportSigningKey(models.Model):
    """One of a clinic's Ed25519 keys that sign its exports' ``SHA256SUMS``. The private half is
    an encrypted object in the vault; the public half is in every bundle it signed and published,
    with its dates, at the clinic's public key page. One key is current (``retired_at`` empty);
    a rotated key is retired, never deleted, so every bundle it signed stays verifiable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    private_key = models.OneToOneField("vault.Blob", on_delete=models.PROTECT, related_name="+")
    public_key_pem = models.TextField()
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the raw public key")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic"],
                condition=models.Q(retired_at__isnull=True),
                name="one_current_export_key",
            ),
            models.UniqueConstraint(fields=["fingerprint"], name="export_key_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"export signing key {self.fingerprint[:16]}"


class Export(models.Model):
    """One requested bundle: for whom, why, of what; built by a worker, downloadable by admins
    until ``expires_at``, then its object is deleted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(
        "patients.TreatmentEpisode",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    recipient = models.CharField(max_length=200)
    reason = models.CharField(max_length=20, choices=ExportReason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.QUEUED)
    failure_reason = models.CharField(max_length=300, blank=True)
    blob = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    size = models.BigIntegerField(null=True, blank=True)
    files = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    # The SHA-256 of the bundle's SHA256SUMS (which lists every other file) and the key that
    # signed it: both printed on the cover letter the clinic sends apart from the bundle.
    sums_sha256 = models.CharField(max_length=64, blank=True)
    signing_key = models.ForeignKey(
        ExportSigningKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    timestamped_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "patient", "-requested_at"], name="export_patient"),
            models.Index(fields=["clinic", "state", "expires_at"], name="export_expiry"),
        ]
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"export for {self.recipient} ({self.reason})"

    @property
    def is_subject_access(self) -> bool:
        return self.reason == ExportReason.SUBJECT_ACCESS

    @property
    def is_expired(self) -> bool:
        return self.state == ExportState.EXPIRED or (
            self.expires_at is not None and timezone.now() >= self.expires_at
        )

    @property
    def is_downloadable(self) -> bool:
        return self.state == ExportState.READY and self.blob_id is not None and not self.is_expired

    @property
    def filename(self) -> str:
        name = slugify(self.patient.last_name) or "patient"
        return f"export-{name}-{self.requested_at:%Y%m%d}-{str(self.id)[:8]}.zip"
