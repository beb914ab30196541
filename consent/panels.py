"""The consent section of the patient page: what is granted now, its history, requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from consent import selectors
from consent.models import ConsentUse
from patients.models import Patient
from patients.panels import PatientPanel


def consent_panel_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """Active uses, the periods each was valid, recent withdrawals, records and requests."""
    labels = dict(ConsentUse.choices)
    active, periods = selectors.consent_overview(clinic=request.clinic, patient=patient)
    recent = selectors.recent_withdrawals(clinic=request.clinic, patient=patient)
    for withdrawal in recent:
        withdrawal.labels = [labels[u] for u in withdrawal.uses]
    return {
        "consent": {
            "active": active,
            "active_labels": [labels[u] for u in ConsentUse.values if u in active],
            "periods": [(labels[u], p) for u, p in periods.items() if p],
            "recent_withdrawals": recent,
            "records": list(selectors.records_of(clinic=request.clinic, patient=patient)),
            "requests": list(selectors.requests_of(clinic=request.clinic, patient=patient)[:5]),
        }
    }


CONSENT_PANEL = PatientPanel(
    name="consent",
    template="consent/_patient_consent.html",
    order=20,
    context=consent_panel_context,
)
