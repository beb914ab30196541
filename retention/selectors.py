"""Reading retention: the clinic's rules, one record's retention, the records due for
erasure, holds and tombstones. Every selector takes the clinic explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import DateTimeField, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from clinic.models import Clinic
from patients.models import Patient, TreatmentEpisode
from photos.models import Photo
from retention.models import Erasure, LegalHold, RetentionPolicy
from retention.rules import Retention, Rules, retention_of


def rules_of(*, clinic: Clinic) -> Rules:
    """The clinic's retention rules, or the defaults when it has set none."""
    policy = RetentionPolicy.objects.filter(clinic=clinic).first()
    if policy is None:
        return Rules()
    return Rules(adult_years=policy.adult_years, minor_until_age=policy.minor_until_age)


def policy_of(*, clinic: Clinic) -> RetentionPolicy | None:
    return RetentionPolicy.objects.filter(clinic=clinic).first()


def _with_last_dates(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Each patient with the date of their latest treatment and latest photo (None if none)."""
    last_episode = (
        TreatmentEpisode.objects.filter(patient=OuterRef("pk"))
        .order_by()
        .values("patient")
        .annotate(last=Max("performed_on"))
        .values("last")
    )
    last_photo = (
        Photo.objects.filter(patient=OuterRef("pk"))
        .order_by()
        .values("patient")
        .annotate(last=Max("taken_at"))
        .values("last")
    )
    return patients.annotate(
        last_episode_on=Subquery(last_episode),
        last_photo_at=Subquery(last_photo, output_field=DateTimeField()),
    )


def last_treatment_of(patient: Patient) -> date:
    """The day of the latest treatment or photo; with neither, the day the record was opened
    (a record with nothing in it is kept as long as one treated that day)."""
    days = []
    episode_on = getattr(patient, "last_episode_on", None)
    photo_at = getattr(patient, "last_photo_at", None)
    if not hasattr(patient, "last_episode_on"):
        episode_on = TreatmentEpisode.objects.filter(
            clinic_id=patient.clinic_id, patient=patient
        ).aggregate(last=Max("performed_on"))["last"]
        photo_at = Photo.objects.filter(clinic_id=patient.clinic_id, patient=patient).aggregate(
            last=Max("taken_at")
        )["last"]
    if episode_on:
        days.append(episode_on)
    if photo_at:
        days.append(timezone.localdate(photo_at))
    return max(days) if days else timezone.localdate(patient.created_at)


@dataclass(frozen=True)
class RecordRetention:
    """One patient's retention as the pages and the due list show it."""

    patient: Patient
    retention: Retention
    hold: LegalHold | None

    @property
    def ends_on(self) -> date:
        return self.retention.ends_on

    def is_due(self, today: date) -> bool:
        return self.hold is None and self.retention.due_on(today)


def active_hold(*, clinic: Clinic, patient: Patient) -> LegalHold | None:
    """The patient's legal hold in force, if any."""
    return (
        LegalHold.objects.filter(clinic=clinic, patient=patient, lifted_at__isnull=True)
        .select_related("placed_by")
        .first()
    )


def holds_of(*, clinic: Clinic, patient: Patient) -> QuerySet[LegalHold]:
    """Every hold the patient has had, newest first (lifted ones too)."""
    return LegalHold.objects.filter(clinic=clinic, patient=patient).select_related(
        "placed_by", "lifted_by"
    )


def record_retention(*, clinic: Clinic, patient: Patient) -> RecordRetention:
    """When this patient's record may be erased, and any hold that keeps it."""
    retention = retention_of(
        date_of_birth=patient.date_of_birth,
        last_treatment=last_treatment_of(patient),
        rules=rules_of(clinic=clinic),
    )
    return RecordRetention(
        patient=patient, retention=retention, hold=active_hold(clinic=clinic, patient=patient)
    )


def patients_due(*, clinic: Clinic, today: date | None = None) -> list[RecordRetention]:
    """Patients (archived ones too) past the clinic's retention period and not under a legal
    hold, longest overdue first. Nothing here erases: an admin confirms each erasure."""
    today = today or timezone.localdate()
    rules = rules_of(clinic=clinic)
    # Anyone due has had nothing recorded for at least the adult period (a minor's period is
    # never shorter), so the database narrows the list before the rule is applied exactly.
    cutoff = today - timedelta(days=365 * rules.adult_years - 3)
    held = LegalHold.objects.filter(clinic=clinic, lifted_at__isnull=True).values("patient_id")
    photo_cutoff = timezone.make_aware(datetime.combine(cutoff + timedelta(days=1), time.min))
    candidates = (
        _with_last_dates(Patient.objects.filter(clinic=clinic))
        .exclude(pk__in=held)
        .filter(Q(last_episode_on__isnull=True) | Q(last_episode_on__lte=cutoff))
        .filter(Q(last_photo_at__isnull=True) | Q(last_photo_at__lt=photo_cutoff))
    )
    due = []
    for patient in candidates.iterator(chunk_size=2000):
        retention = retention_of(
            date_of_birth=patient.date_of_birth,
            last_treatment=last_treatment_of(patient),
            rules=rules,
        )
        if retention.due_on(today):
            due.append(RecordRetention(patient=patient, retention=retention, hold=None))
    due.sort(key=lambda r: (r.ends_on, r.patient.last_name, r.patient.first_name))
    return due


def holds_in_force(*, clinic: Clinic) -> QuerySet[LegalHold]:
    """Every legal hold in force at the clinic, newest first."""
    return LegalHold.objects.filter(clinic=clinic, lifted_at__isnull=True).select_related(
        "patient", "placed_by"
    )


def erasures_of(*, clinic: Clinic) -> QuerySet[Erasure]:
    """The clinic's tombstones, newest first."""
    return Erasure.objects.filter(clinic=clinic).select_related("confirmed_by")


def erasure_get(*, clinic: Clinic, erasure_id) -> Erasure | None:
    return (
        Erasure.objects.filter(clinic=clinic, pk=erasure_id).select_related("confirmed_by").first()
    )


def hold_get(*, clinic: Clinic, hold_id) -> LegalHold | None:
    """One legal hold of the clinic, or None."""
    return LegalHold.objects.filter(clinic=clinic, pk=hold_id).select_related("patient").first()
