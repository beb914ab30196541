"""Finding a patient's photos. Every selector takes the clinic explicitly."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from clinic.models import Clinic
from patients.models import Patient
from patients.vocab import FacialArea
from photos.models import Photo, PhotoStatus, Stage, View

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
    qs = Photo.objects.filter(clinic=clinic, pk=photo_id).select_related(
        "patient", "episode", "taken_by", "original", "display", "thumb"
    )
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    return qs.first()


def photos_by_ids(*, clinic: Clinic, ids: list) -> QuerySet[Photo]:
    return Photo.objects.filter(clinic=clinic, pk__in=ids)


def ghost_for(*, clinic: Clinic, patient: Patient, area: str, view: str) -> Photo | None:
    """The photo to line a new one up against: the latest ready photo of the same area and
    view, preferring a 'before'."""
    qs = Photo.objects.filter(
        clinic=clinic,
        patient=patient,
        area=area,
        view=view,
        status=PhotoStatus.READY,
        deleted_at__isnull=True,
    )
    return (
        qs.filter(stage=Stage.BEFORE).order_by("-taken_at").first()
        or qs.order_by("-taken_at").first()
    )
