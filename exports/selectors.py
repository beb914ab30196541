"""Finding exports. Every selector takes the clinic explicitly."""

from __future__ import annotations

from django.db.models import QuerySet

from clinic.models import Clinic
from exports.models import Export
from patients.models import Patient


def export_get(*, clinic: Clinic, export_id) -> Export | None:
    """One export of the clinic, with what its pages show."""
    return (
        Export.objects.select_related("clinic", "patient", "episode", "requested_by", "blob")
        .filter(clinic=clinic, pk=export_id)
        .first()
    )


def exports_of(*, clinic: Clinic, patient: Patient) -> QuerySet[Export]:
    """The patient's exports, newest first."""
    return Export.objects.filter(clinic=clinic, patient=patient).select_related(
        "requested_by", "episode"
    )
