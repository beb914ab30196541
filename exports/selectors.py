"""Finding exports. Every selector takes the clinic explicitly."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from clinic.models import Clinic
from consent.ledger import LedgerUse
from exports.models import Export
from patients.models import Patient
from photos.models import Photo


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


def exports_ledger(clinic: Clinic, patient: Patient) -> list[LedgerUse]:
    """The patient's ledger entries for exports built of their record (consent/ledger.py):
    who received which photos, and when. A bundle holds the photos current when it was built
    (of one treatment, or all)."""
    uses = []
    for export in Export.objects.filter(
        clinic=clinic, patient=patient, ready_at__isnull=False
    ).order_by("ready_at"):
        photos = Photo.objects.filter(
            clinic=clinic, patient=patient, uploaded_at__lte=export.ready_at
        ).filter(Q(deleted_at__isnull=True) | Q(deleted_at__gt=export.ready_at))
        if export.episode_id:
            photos = photos.filter(episode_id=export.episode_id)
        photo_ids = tuple(photos.values_list("pk", flat=True))
        if not photo_ids:
            continue
        if export.is_subject_access:
            where = "Your own copy of your record (subject-access request)"
        else:
            where = f"Exported to {export.recipient} ({export.get_reason_display().lower()})"
        uses.append(
            LedgerUse(
                photo_ids=photo_ids,
                where=where,
                since=export.ready_at,
                note="a copy given to the recipient stays with them",
                once=True,
            )
        )
    return uses
