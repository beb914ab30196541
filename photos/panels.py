"""The photos section of the patient page: timeline or grid, filtered."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.urls import reverse
from django.utils import dateformat, timezone

from audit.http import ClinicRequest
from patients.models import Patient, TreatmentEpisode
from patients.panels import PatientPanel
from patients.vocab import FacialArea
from photos import selectors, services
from photos.models import Photo, Stage, View

PLACEHOLDER = uuid.UUID(int=0)


def _url_maker(name: str, clinic_slug: str) -> Callable[[uuid.UUID], str]:
    """``reverse()`` once for a whole grid: the pattern's URL with each photo's id put in."""
    head, tail = reverse(name, kwargs={"clinic_slug": clinic_slug, "photo_id": PLACEHOLDER}).split(
        str(PLACEHOLDER)
    )
    return lambda photo_id: f"{head}{photo_id}{tail}"


def _cards(request: ClinicRequest, photos: list[Photo], grants: dict, filter_query: str) -> None:
    """What each card shows, worked out once in Python: at 200 photos a per-card include with
    three ``reverse()`` calls and the date and label look-ups was most of the page's time."""
    detail, thumb = (_url_maker(n, request.clinic.slug) for n in ("photo_detail", "photo_thumb"))
    stage, area, view = (dict(c.choices) for c in (Stage, FacialArea, View))
    suffix = f"?{filter_query}" if filter_query else ""
    for photo in photos:
        url = detail(photo.pk)
        grant = grants.get(photo.pk, "")
        # The card's words and links, kept on the photo for the template.
        photo.card_url = url + suffix  # type: ignore[attr-defined]
        photo.card_correct_url = url + "?correct=1#correct"  # type: ignore[attr-defined]
        photo.card_thumb = thumb(photo.pk) + (f"?grant={quote(grant, safe='')}" if grant else "")  # type: ignore[attr-defined]
        photo.card_stage = stage.get(photo.stage, photo.stage)  # type: ignore[attr-defined]
        photo.card_where = (  # type: ignore[attr-defined]
            f"{area.get(photo.area, photo.area)} · {view.get(photo.view, photo.view)}"
        )
        photo.card_date = dateformat.format(timezone.localtime(photo.taken_at), "j M Y")  # type: ignore[attr-defined]


def _groups(photos: list[Photo], layout: str) -> list[tuple[TreatmentEpisode | None, list]]:
    """The cards as the layout shows them: one unnamed group, or one per treatment."""
    if layout == "grid":
        return [(None, photos)]
    groups: list[tuple[TreatmentEpisode | None, list]] = []
    for photo in photos:
        if not groups or groups[-1][0] != photo.episode:
            groups.append((photo.episode, []))
        groups[-1][1].append(photo)
    return groups


def photos_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    """The patient's photos as the page's filters and layout ask."""
    filters = selectors.clean_filters(request.GET)
    shown = selectors.photos_of(clinic=request.clinic, patient=patient, filters=filters)
    layout = "grid" if request.GET.get("layout") == "grid" else "timeline"
    if layout == "timeline":
        shown = shown.order_by("-episode__performed_on", "episode_id", "taken_at")
    photos = list(shown)
    # One event for the grid's thumbnails; their requests carry its grant (photos.services).
    grants = services.thumbnails_shown(
        clinic=request.clinic,
        patient=patient,
        photos=photos,
        by=request.user,
        context=request.audit,
        session_key=request.session.session_key,
    )
    filter_query = urlencode({k: v for k, v in filters.items() if v})
    _cards(request, photos, grants, filter_query)
    return {
        "photos": photos,
        "photo_groups": _groups(photos, layout),
        "filters": filters,
        "layout": layout,
        "filters_active": any(filters.values()),
        "filter_query": filter_query,
        "stage_choices": Stage.choices,
        "area_choices": FacialArea.choices,
        "view_choices": View.choices,
    }


# Photos first: capturing and comparing them is what the appointment is for.
PHOTOS_PANEL = PatientPanel(
    name="photos",
    template="photos/_patient_photos.html",
    order=10,
    context=photos_panel_context,
    permission="photos.view",
)
