"""Changes to patients and treatments, each audited in the same transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from clinic.models import Clinic, User
from clinic.selectors import practitioners_of
from patients.models import Patient, TreatmentEpisode

PATIENT_FIELDS = ("first_name", "last_name", "date_of_birth", "email", "phone", "notes")
EPISODE_FIELDS = (
    "treatment_type",
    "areas",
    "performed_on",
    "practitioner",
    "product",
    "batch_number",
    "notes",
)


def _check_email_free(clinic: Clinic, email: str, exclude_id=None) -> None:
    if not email:
        return
    clash = Patient.objects.filter(clinic=clinic, email__iexact=email)
    if exclude_id:
        clash = clash.exclude(pk=exclude_id)
    if clash.exists():
        raise ValidationError(
            {"email": "Another patient of this clinic already uses this e-mail address."}
        )


def _tidy(data: dict[str, Any]) -> dict[str, Any]:
    """Names and e-mail on one line, single-spaced: they end up in e-mail subjects and PDFs."""
    for field in ("first_name", "last_name"):
        if field in data:
            data[field] = " ".join(str(data[field]).split())
    if "email" in data:
        data["email"] = data["email"].strip().lower()
    return data


def _changes(obj: Any, data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, list[str]]:
    changed = {}
    for field in fields:
        if field in data and getattr(obj, field) != data[field]:
            changed[field] = [str(getattr(obj, field)), str(data[field])]
    return changed


@transaction.atomic
def patient_create(
    *, clinic: Clinic, by: User, context: AuditContext | None = None, **data: Any
) -> Patient:
    """Register a new patient with the clinic."""
    data = _tidy({"email": "", **data})
    _check_email_free(clinic, data["email"])
    patient = Patient(clinic=clinic, created_by=by, **{f: data.get(f, "") for f in PATIENT_FIELDS})
    patient.refresh_search_fields()
    patient.save()
    record(
        clinic=clinic,
        action="patient.created",
        actor=by,
        context=context,
        target=patient,
        patient=patient,
    )
    return patient


@transaction.atomic
def patient_update(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None, **data: Any
) -> Patient:
    """Change a patient's details; the audit event names the fields that changed."""
    data = _tidy(data)
    if "email" in data:
        _check_email_free(clinic, data["email"], exclude_id=patient.pk)
    changed = _changes(patient, data, PATIENT_FIELDS)
    if not changed:
        return patient
    for field in changed:
        setattr(patient, field, data[field])
    patient.refresh_search_fields()
    patient.save()
    record(
        clinic=clinic,
        action="patient.updated",
        actor=by,
        context=context,
        target=patient,
        patient=patient,
        details={"fields": sorted(changed)},
    )
    return patient


def patient_require_active(patient: Patient, *, to: str) -> None:
    """Refuse new clinical work for an archived patient: restore them first. ``to`` says what
    was refused, e.g. "record a treatment"."""
    if patient.archived_at is not None:
        raise ValidationError(
            f"{patient.full_name} is archived, so you cannot {to}. Restore them to the patient "
            "list first (Restore to patient list, on their page)."
        )


def patient_activity(*, patient: Patient) -> None:
    """Move the patient up "Recently updated": a new treatment, photo or signature is news.
    Not audited on its own: the photo or signature that caused it is."""
    patient.save(update_fields=["updated_at"])


@transaction.atomic
def patient_archive(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None
) -> Patient:
    """Hide a patient from lists and search; nothing is deleted (retention decides that)."""
    if patient.archived_at is None:
        patient.archived_at = timezone.now()
        patient.save(update_fields=["archived_at", "updated_at"])
        record(
            clinic=clinic,
            action="patient.archived",
            actor=by,
            context=context,
            target=patient,
            patient=patient,
        )
    return patient


@transaction.atomic
def patient_restore(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None
) -> Patient:
    """Bring an archived patient back into lists and search."""
    if patient.archived_at is not None:
        patient.archived_at = None
        patient.save(update_fields=["archived_at", "updated_at"])
        record(
            clinic=clinic,
            action="patient.restored",
            actor=by,
            context=context,
            target=patient,
            patient=patient,
        )
    return patient


def patient_viewed(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None
) -> None:
    """Viewing a record is an access the trail must show."""
    record(
        clinic=clinic,
        action="patient.viewed",
        actor=by,
        context=context,
        target=patient,
        patient=patient,
    )


def _check_practitioner(clinic: Clinic, practitioner: User | None) -> None:
    if practitioner is None:
        return
    if not practitioners_of(clinic=clinic).filter(pk=practitioner.pk).exists():
        raise ValidationError(
            {"practitioner": "Choose a practitioner or admin of this clinic who is still active."}
        )


@transaction.atomic
def episode_create(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None, **data: Any
) -> TreatmentEpisode:
    """Record a treatment given to the patient (not for an archived patient)."""
    patient_require_active(patient, to="record a treatment")
    _check_practitioner(clinic, data.get("practitioner"))
    episode = TreatmentEpisode(
        clinic=clinic, patient=patient, **{f: data[f] for f in EPISODE_FIELDS if f in data}
    )
    episode.save()
    patient_activity(patient=patient)
    record(
        clinic=clinic,
        action="episode.created",
        actor=by,
        context=context,
        target=episode,
        patient=patient,
        details={"treatment_type": episode.treatment_type, "areas": episode.areas},
    )
    return episode


@transaction.atomic
def episode_update(
    *,
    clinic: Clinic,
    episode: TreatmentEpisode,
    by: User,
    context: AuditContext | None = None,
    **data: Any,
) -> TreatmentEpisode:
    """Correct a treatment record; the audit event names the fields that changed."""
    changed = _changes(episode, data, EPISODE_FIELDS)
    if not changed:
        return episode
    if "practitioner" in changed:
        _check_practitioner(clinic, data["practitioner"])
    for field in changed:
        setattr(episode, field, data[field])
    episode.save()
    record(
        clinic=clinic,
        action="episode.updated",
        actor=by,
        context=context,
        target=episode,
        patient=episode.patient,
        details={"fields": sorted(changed)},
    )
    return episode
