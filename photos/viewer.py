"""The photo viewer as a hub: apps above photos add a section to it (consent adds the
marketing library's) by registering it when they start, so photos never imports them. The
same shape as the patient page's panels (``patients.panels``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.http import ClinicRequest
from clinic.hubs import Hub, assemble
from photos.models import Photo


@dataclass(frozen=True)
class ViewerSection:
    """One section of the viewer's side panel: its template, place, and the function that
    gives the template what it needs (merged into the page's context)."""

    name: str
    template: str
    order: int
    context: Callable[[ClinicRequest, Photo], dict[str, Any]]


SECTIONS: Hub[ViewerSection] = Hub("photos.viewer", "sections of the photo viewer's side panel")


def register(section: ViewerSection) -> None:
    """Add (or replace, by name) a section of the viewer; called from an app's ready()."""
    SECTIONS.register(section.name, section, order=section.order)


def sections_for(request: ClinicRequest, photo: Photo) -> tuple[list[str], dict[str, Any]]:
    """The sections' templates in order, and their merged context."""
    return assemble(SECTIONS.values(), request, photo)
