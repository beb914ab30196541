"""Finding a patient's photos. Every selector takes the clinic explicitly."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from clinic.models import Clinic
from patients.models import Patient
from patients.vocab import FacialArea, TreatmentType
from photos.models import DEFAULT_SEQUENCE, CaptureSequence, Photo, PhotoStatus, Stage, View

FILTERS = ("episode", "stage", "area", "view")


def photos_of(
    *, clinic: Clinic, patient: Patient, filters: dict[str, str] | None = None
) -> QuerySet[Photo]:
    """The patient's photos (not deleted), oldest first, filtered by episode/stage/area/view."""
    qs = Photo.objects.filter(clinic=clinic, patient=patient, deleted_at__isnull=True)
    for name, value in clean_filters(filters or {}).items():
        if value:
            qs = qs.filter(**{f"{name}_id" if name == "episode" else name: value})
    return qs.select_related("episode", "taken_by")


def clean_filters(filters: dict[str, str]) -> dict[str, str]:
    """Only known filters with valid values (from a URL anything may arrive); others are ''."""
    allowed = {"stage": Stage.values, "area": FacialArea.values, "view": View.values}
    cleaned = {}
    for name in FILTERS:
        value = (filters.get(name) or "")[:40]
        if name == "episode":
            try:
                value = str(uuid.UUID(value)) if value else ""
            except ValueError:
                value = ""
        elif value not in allowed[name]:
            value = ""
        cleaned[name] = value
    return cleaned


def photo_get(*, clinic: Clinic, photo_id, include_deleted: bool = False) -> Photo | None:
    # Not the three blobs: no caller of this needs them, and planning a seven-table join took
    # the viewer 5 ms at a million photos, more than running it (photo_to_serve joins one).
    qs = Photo.objects.filter(clinic=clinic, pk=photo_id).select_related(
        "patient", "episode", "taken_by"
    )
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    return qs.first()


def photo_to_serve(*, clinic: Clinic, photo_id, rendition: str) -> Photo | None:
    """A live photo with only the blob of ``rendition`` joined: the thumbnail view runs once per
    card, and planning photo_get's seven-table join cost more than running it."""
    return (
        Photo.objects.filter(clinic=clinic, pk=photo_id, deleted_at__isnull=True)
        .select_related(rendition)
        .first()
    )


def photos_by_ids(*, clinic: Clinic, ids: list) -> QuerySet[Photo]:
    return Photo.objects.filter(clinic=clinic, pk__in=ids)


def ghost_for(
    *, clinic: Clinic, patient: Patient, area: str, view: str, exclude_stage: str = ""
) -> Photo | None:
    """The photo to line a new one up against: the latest ready photo of the same area and
    view, preferring a 'before' (in guided capture, not one of the stage being taken)."""
    qs = Photo.objects.filter(
        clinic=clinic,
        patient=patient,
        area=area,
        view=view,
        status=PhotoStatus.READY,
        deleted_at__isnull=True,
    )
    if exclude_stage:
        qs = qs.exclude(stage=exclude_stage)
    return (
        qs.filter(stage=Stage.BEFORE).order_by("-taken_at").first()
        or qs.order_by("-taken_at").first()
    )


def sequence_for(*, clinic: Clinic, treatment_type: str) -> list[str]:
    """The views to take, in order, for a treatment type: the clinic's, else the default."""
    row = CaptureSequence.objects.filter(clinic=clinic, treatment_type=treatment_type).first()
    return list(row.views) if row else [str(v) for v in DEFAULT_SEQUENCE]


def sequences_of(*, clinic: Clinic) -> list[tuple[str, str, list[str], bool]]:
    """Every treatment type with its views and whether the clinic changed the default:
    (code, label, views, customised)."""
    rows = {r.treatment_type: r.views for r in CaptureSequence.objects.filter(clinic=clinic)}
    return [
        (code, label, list(rows.get(code, [str(v) for v in DEFAULT_SEQUENCE])), code in rows)
        for code, label in TreatmentType.choices
    ]


def earlier_photos(
    *, clinic: Clinic, patient: Patient, area: str, limit: int = 24
) -> QuerySet[Photo]:
    """The patient's ready photos of an area, newest first: the strip a ghost is chosen from."""
    return Photo.objects.filter(
        clinic=clinic,
        patient=patient,
        area=area,
        status=PhotoStatus.READY,
        deleted_at__isnull=True,
    ).order_by("-taken_at")[:limit]
