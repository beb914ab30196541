"""Retention: each clinic's rules for how long records are kept, legal holds that keep a
record past them, and the tombstones that erasure leaves."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from clinic.tenancy import TenantManager

# The defaults of F23: adults 8 years after their last treatment, minors until their 25th
# birthday (insurers often ask for 10 years; the clinic chooses).
DEFAULT_ADULT_YEARS = 8
DEFAULT_MINOR_UNTIL_AGE = 25
ADULT_AGE = 18


class RetentionPolicy(models.Model):
    """A clinic's retention rules. A clinic without a row keeps the defaults."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.OneToOneField("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    adult_years = models.PositiveSmallIntegerField(default=DEFAULT_ADULT_YEARS)
    minor_until_age = models.PositiveSmallIntegerField(default=DEFAULT_MINOR_UNTIL_AGE)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The day up to which admins have been told of records past retention: the daily job
    # e-mails them only when records became due after it.
    due_notified_through = models.DateField(null=True, blank=True)

    objects = TenantManager()

    def __str__(self) -> str:
        return f"adults {self.adult_years} y, minors until {self.minor_until_age}"


class LegalHold(models.Model):
    """A complaint or claim is open: the patient's record is kept, whatever the rules say,
    until an admin lifts the hold."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="legal_holds"
    )
    reason = models.CharField(max_length=300)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField()
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "patient"],
                condition=models.Q(lifted_at__isnull=True),
                name="one_live_legal_hold_per_patient",
            )
        ]
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return f"legal hold on {self.patient_id}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class Erasure(models.Model):
    """The tombstone of an erased patient: their internal id, when and on whose confirmation
    the record was erased, why early if it was, and whom earlier exports went to (to tell
    them, Art. 19). Nothing here names or describes the patient."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    # Not a foreign key: the patient row is gone. Audit events still carry this id.
    patient_id = models.UUIDField()
    erased_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_label = models.CharField(max_length=120, blank=True, help_text="when not staff")
    retention_ended_on = models.DateField()
    early_reason = models.CharField(max_length=300, blank=True)
    # [{"export_id", "recipient", "reason", "exported_at", "downloads"}]
    recipients = models.JSONField(default=list)
    # {"photos": n, "consents": n, ...}: what was removed
    removed = models.JSONField(default=dict)
    # The shredded objects still to delete from storage (after commit, through the outbox).
    blob_ids = models.JSONField(default=list)
    objects_deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "patient_id"], name="one_erasure_per_patient")
        ]
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"erasure of patient {self.patient_id}"

    @property
    def was_early(self) -> bool:
        return bool(self.early_reason)
