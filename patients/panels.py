"""The patient page is the hub: other apps add their sections (photos, consent, later
comparisons and the access log) by registering a panel here when they start, so this app never
imports the apps above it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.http import ClinicRequest
from clinic.hubs import Hub, assemble
from clinic.permissions import role_can
from patients.models import Patient


@dataclass(frozen=True)
class PatientPanel:
    """One section of the patient page: its template, where it goes, who may see it, and the
    function that gives its template what it needs (merged into the page's context)."""

    name: str
    template: str
    order: int
    context: Callable[[ClinicRequest, Patient], dict[str, Any]]
    permission: str | None = None


PANELS: Hub[PatientPanel] = Hub("patients.panels", "sections of the patient page")


def register(panel: PatientPanel) -> None:
    """Add (or replace, by name) a section of the patient page; called from an app's ready()."""
    PANELS.register(panel.name, panel, order=panel.order)


def panels_for(request: ClinicRequest, patient: Patient) -> tuple[list[str], dict[str, Any]]:
    """The templates of the sections this member may see, in order, and their context."""
    role = request.membership.role
    allowed = [p for p in PANELS.values() if not p.permission or role_can(role, p.permission)]
    return assemble(allowed, request, patient)
