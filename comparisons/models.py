"""Before/after comparisons and the links that share them with the patient. The rendered
image and PDF are objects in the vault."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.tenancy import TenantManager
from links.models import PatientLink


class ComparisonBlobPurpose(models.TextChoices):
    """What a comparison keeps in the vault; the labels are bound into their ciphertext."""

    IMAGE = "comparison_image", "Comparison image"
    PDF = "comparison_pdf", "Comparison PDF"


class ComparisonStatus(models.TextChoices):
    DRAFT = "draft", "Being lined up"
    RENDERING = "rendering", "Making the image and PDF"
    READY = "ready", "Ready"
    FAILED = "failed", "Could not be made"


class Comparison(models.Model):
    """A before and an after of one patient, the transform that lays the after onto the
    before (proposed from the images, perhaps nudged), and what makes them less comparable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="comparisons"
    )
    before = models.ForeignKey("photos.Photo", on_delete=models.PROTECT, related_name="+")
    after = models.ForeignKey("photos.Photo", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # {"found", "inliers", "matches", "scale", "rotation", "tx", "ty"}: what the images said.
    proposal = models.JSONField()
    # {"scale", "rotation", "tx", "ty"}: what is rendered (the proposal unless nudged).
    transform = models.JSONField()
    warnings = models.JSONField(default=list)
    light = models.JSONField(default=dict)
    show_full_name = models.BooleanField(default=False)

    status = models.CharField(
        max_length=20, choices=ComparisonStatus.choices, default=ComparisonStatus.DRAFT
    )
    # Each render request counts up; the worker renders only the latest.
    render_version = models.PositiveIntegerField(default=0)
    image = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pdf = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rendered_at = models.DateTimeField(null=True, blank=True)
    # [x0, y0, x1, y1]: the common crop of the rendered image, in the before's display pixels.
    rendered_crop = models.JSONField(default=list, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["clinic", "patient", "-created_at"], name="comparison_patient")
        ]

    def __str__(self) -> str:
        return f"comparison {self.before_id} → {self.after_id}"

    @property
    def is_ready(self) -> bool:
        return self.status == ComparisonStatus.READY


class ComparisonShare(PatientLink):
    """An e-mailed link that shows a comparison to its patient (the link's fields:
    ``links.PatientLink``); every view is counted."""

    comparison = models.ForeignKey(Comparison, on_delete=models.PROTECT, related_name="shares")
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)
    revoked_reason = models.CharField(max_length=200, blank=True)

    revoked_message = (
        "This link has been withdrawn and no longer works. Please contact the clinic "
        "if you would like to see your photos."
    )

    class Meta(PatientLink.Meta):
        pass

    def __str__(self) -> str:
        return f"comparison shared with {self.sent_to}"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.locked_at:
            return "locked"
        if timezone.now() >= self.expires_at:
            return "expired"
        if self.opened_at:
            return "opened"
        if self.emailed_at:
            return "sent"
        return "sending"

    @property
    def is_open(self) -> bool:
        return self.state in ("sending", "sent", "opened")
