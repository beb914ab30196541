"""Patients of a clinic and the treatments they receive."""

from __future__ import annotations

import re
import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper

from clinic.tenancy import TenantManager
from patients.vocab import FacialArea, TreatmentType


def normalise_name(text: str) -> str:
    """Lower case, single spaces: what name search compares against."""
    return " ".join(text.lower().split())


def phone_digits(phone: str) -> str:
    """Only the digits of a phone number, so '07700 900 123' matches '07700900123'."""
    return re.sub(r"\D", "", phone)


class Patient(models.Model):
    """A person treated at one clinic. The same person at another clinic is another record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    # Derived columns for search, kept by ``refresh_search_fields`` in the services. On
    # PostgreSQL they carry trigram GIN indexes (created in the migration) for substring search.
    search_name = models.CharField(max_length=201, editable=False, default="")
    search_phone = models.CharField(max_length=40, editable=False, default="", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "email"],
                condition=~models.Q(email=""),
                name="patient_email_unique_per_clinic",
            )
        ]
        indexes = [
            models.Index(fields=["clinic", "last_name", "first_name"], name="patient_clinic_name"),
            models.Index(fields=["clinic", "date_of_birth"], name="patient_clinic_dob"),
            models.Index(Upper("email"), "clinic", name="patient_clinic_email_ci"),
        ]
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def age_on(self, day: date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years

    def refresh_search_fields(self) -> None:
        self.search_name = normalise_name(f"{self.first_name} {self.last_name}")
        self.search_phone = phone_digits(self.phone)


class TreatmentEpisode(models.Model):
    """One treatment: what was done, where on the face, when and by whom. Photos attach here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    treatment_type = models.CharField(max_length=30, choices=TreatmentType.choices)
    areas = models.JSONField(default=list, help_text="Facial area codes")
    performed_on = models.DateField()
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    product = models.CharField(max_length=150, blank=True)
    batch_number = models.CharField(max_length=80, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "patient", "-performed_on"], name="episode_patient_date")
        ]
        ordering = ["-performed_on", "-created_at"]

    def __str__(self) -> str:
        return f"{self.get_treatment_type_display()} on {self.performed_on:%d %b %Y}"

    @property
    def area_labels(self) -> list[str]:
        labels = dict(FacialArea.choices)
        return [labels.get(code, code) for code in self.areas]
