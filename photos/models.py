"""Patient photos; their bytes are objects in the vault."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from clinic.tenancy import TenantManager
from patients.vocab import FacialArea, Stage, TreatmentType, View


class BlobPurpose(models.TextChoices):
    """What a photo's vault objects are; the labels are bound into their ciphertext."""

    ORIGINAL = "original", "Original photo"
    DISPLAY = "display", "Display rendition"
    THUMB = "thumb", "Thumbnail"


class PhotoStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Could not be processed"


class Photo(models.Model):
    """A clinical photo of a patient, attached to a treatment episode."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="photos")
    episode = models.ForeignKey(
        "patients.TreatmentEpisode", on_delete=models.PROTECT, related_name="photos"
    )
    stage = models.CharField(max_length=20, choices=Stage.choices)
    area = models.CharField(max_length=30, choices=FacialArea.choices)
    view = models.CharField(max_length=20, choices=View.choices)
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)

    original = models.OneToOneField("vault.Blob", on_delete=models.PROTECT, related_name="+")
    original_name = models.CharField(max_length=120, blank=True)
    original_mime = models.CharField(max_length=40)
    original_size = models.BigIntegerField()
    original_sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    display = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    thumb = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    status = models.CharField(
        max_length=20, choices=PhotoStatus.choices, default=PhotoStatus.PROCESSING
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delete_reason = models.CharField(max_length=300, blank=True)

    objects = TenantManager()

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "patient", "taken_at"], name="photo_patient_time"),
            models.Index(fields=["clinic", "patient", "area", "view"], name="photo_area_view"),
            models.Index(fields=["clinic", "status", "updated_at"], name="photo_status"),
        ]
        ordering = ["taken_at", "uploaded_at"]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} {self.get_area_display()} {self.get_view_display()}"

    @property
    def is_ready(self) -> bool:
        return self.status == PhotoStatus.READY


# The views a face needs when a clinic has not said otherwise (issue 12).
DEFAULT_SEQUENCE = [View.FRONT, View.LEFT_45, View.LEFT_90, View.RIGHT_45, View.RIGHT_90]


class CaptureSequence(models.Model):
    """The views a clinic takes, in order, for one treatment type: the steps of guided capture.
    A treatment type without a row uses DEFAULT_SEQUENCE."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    treatment_type = models.CharField(max_length=30, choices=TreatmentType.choices)
    views = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "treatment_type"], name="one_sequence_per_treatment_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_treatment_type_display()}: {', '.join(self.views)}"
