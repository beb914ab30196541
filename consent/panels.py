"""The consent section of the patient page (what is granted now, its history, requests) and
the marketing library's section of the photo viewer."""

from __future__ import annotations

from typing import Any

from audit.http import ClinicRequest
from consent import selectors
from consent.models import MARKETING_USES, ConsentUse
from patients.models import Patient
from patients.panels import PatientPanel
from photos.models import Photo
from photos.viewer import ViewerSection


def consent_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    """Active uses, the periods each was valid, recent withdrawals, records and requests."""
    labels = dict(ConsentUse.choices)
    active, periods = selectors.consent_overview(clinic=request.clinic, patient=patient)
    recent = selectors.recent_withdrawals(clinic=request.clinic, patient=patient)
    for withdrawal in recent:
        # For the template: the withdrawn uses in words.
        withdrawal.labels = [labels[u] for u in withdrawal.uses]  # type: ignore[attr-defined]
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


def marketing_section_context(request: ClinicRequest, photo: Photo) -> dict[str, Any]:
    """The uses the patient consents to now (the service checks again on adding) and the
    library items the photo is in."""
    consented = selectors.active_uses(clinic=request.clinic, patient=photo.patient)
    return {
        "marketing_uses": [
            c for c in ConsentUse.choices if c[0] in MARKETING_USES and c[0] in consented
        ],
        "marketing_items": list(photo.marketing_items.filter(removed_at__isnull=True)),
    }


MARKETING_SECTION = ViewerSection(
    name="marketing",
    template="consent/_marketing_add.html",
    order=10,
    context=marketing_section_context,
)
