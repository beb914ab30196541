"""The patient page's "who has accessed this record" section (the NHS expectation): the
latest events about the patient from the audit trail, with a link to the whole log filtered
to them. The trail is on the floor below, so this app reads it; the trail names patients
through the look-ups registered here."""

from __future__ import annotations

from typing import Any

from audit.actions import action_label
from audit.http import ClinicRequest
from audit.queries import RECENT_ACCESSES, recent_accesses, register_patient_names
from patients.models import Patient
from patients.panels import PatientPanel
from patients.panels import register as register_panel
from patients.selectors import patient_names, patients_named


def access_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    rows = recent_accesses(clinic=request.clinic, patient_id=patient.pk)
    return {
        "accesses": [
            {
                "event": row.event,
                "who": row.who,
                "label": action_label(row.event.action),
            }
            for row in rows
        ],
        "accesses_limit": RECENT_ACCESSES,
    }


# Last on the page: it is about the record rather than part of the care.
ACCESS_PANEL = PatientPanel(
    name="access",
    template="audit/_patient_access.html",
    order=90,
    context=access_panel_context,
    permission="audit.view",
)


def register() -> None:
    """Called when the patients app starts."""
    register_panel(ACCESS_PANEL)
    register_patient_names(patient_names, patients_named)
