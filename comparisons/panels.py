"""The comparisons section of the patient page: present in one tap, start one, earlier ones."""

from __future__ import annotations

from typing import Any

from audit.http import ClinicRequest
from comparisons import selectors
from patients.models import Patient
from patients.panels import PatientPanel


def comparisons_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    """Whether there is a pair to present, and the patient's comparisons."""
    return {
        "comparisons": {
            "suggested": selectors.suggestion_count(clinic=request.clinic, patient=patient),
            "recent": list(selectors.comparisons_of(clinic=request.clinic, patient=patient)[:10]),
        }
    }


# Right after the photos: comparing them is the next thing the appointment does.
COMPARISONS_PANEL = PatientPanel(
    name="comparisons",
    template="comparisons/_patient_comparisons.html",
    order=15,
    context=comparisons_panel_context,
    permission="comparisons.create",
)
