"""The photos section of the patient page: timeline or grid, filtered."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest

from patients.models import Patient
from patients.panels import PatientPanel
from patients.vocab import FacialArea
from photos import selectors, services
from photos.models import Stage, View


def photos_panel_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """The patient's photos as the page's filters and layout ask."""
    filters = selectors.clean_filters(request.GET)
    photos = selectors.photos_of(clinic=request.clinic, patient=patient, filters=filters)
    layout = "grid" if request.GET.get("layout") == "grid" else "timeline"
    if layout == "timeline":
        photos = photos.order_by("-episode__performed_on", "episode_id", "taken_at")
    photos = list(photos)
    # One event for the grid's thumbnails; their requests carry its grant (photos.services).
    grants = services.thumbnails_shown(
        clinic=request.clinic, patient=patient, photos=photos, by=request.user, request=request
    )
    for photo in photos:
        photo.thumb_grant = grants.get(photo.pk, "")
    return {
        "photos": photos,
        "filters": filters,
        "layout": layout,
        "filters_active": any(filters.values()),
        "filter_query": urlencode({k: v for k, v in filters.items() if v}),
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
