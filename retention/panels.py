"""Retention on the patient page: a banner while a legal hold is in force (for everyone who
sees the record), and the retention section (admins): when the record may be erased, the
hold controls and the way to erasure."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from audit.http import ClinicRequest
from patients.models import Patient
from patients.panels import PatientPanel
from retention import selectors
from retention.forms import HoldForm


def hold_banner_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    return {"legal_hold": selectors.active_hold(clinic=request.clinic, patient=patient)}


def retention_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    status = selectors.record_retention(clinic=request.clinic, patient=patient)
    return {
        "retention": status,
        "retention_due": status.retention.due_on(timezone.localdate()),
        "retention_rules": selectors.rules_of(clinic=request.clinic),
        "hold_form": HoldForm(),
        "past_holds": [
            h for h in selectors.holds_of(clinic=request.clinic, patient=patient) if h.lifted_at
        ][:5],
    }


HOLD_BANNER = PatientPanel(
    name="legal-hold-banner",
    template="retention/_hold_banner.html",
    order=1,
    context=hold_banner_context,
)

RETENTION_PANEL = PatientPanel(
    name="retention",
    template="retention/_patient_retention.html",
    order=90,
    context=retention_panel_context,
    permission="retention.manage",
)
