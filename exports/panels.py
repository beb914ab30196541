"""The exports section of the patient page (admins) and the signing key on the settings page."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.settings_sections import SettingsSection
from audit.http import ClinicRequest
from exports import selectors, services, signing
from exports.forms import ExportForm
from patients.models import Patient
from patients.panels import PatientPanel
from patients.selectors import episodes_of


def exports_panel_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    """The request form and this patient's recent exports with their state."""
    exports = list(selectors.exports_of(clinic=request.clinic, patient=patient)[:10])
    for export in exports:
        export.progress = services.export_progress(export)  # type: ignore[attr-defined]  # for the template
    return {
        "export_form": ExportForm(episodes=episodes_of(clinic=request.clinic, patient=patient)),
        "exports": exports,
        "export_days": settings.EXPORT_LIFETIME.days,
    }


EXPORTS_PANEL = PatientPanel(
    name="exports",
    template="exports/_patient_exports.html",
    order=40,
    context=exports_panel_context,
    permission="export.create",
)


def signing_key_context(request: ClinicRequest) -> dict[str, Any]:
    keys = signing.signing_keys(clinic=request.clinic)
    return {
        "export_signing_key": next((k for k in keys if k.retired_at is None), None),
        "export_retired_keys": [k for k in keys if k.retired_at is not None],
        "export_key_page_url": signing.key_page_url(request.clinic),
    }


SIGNING_KEY_SECTION = SettingsSection(
    name="export-signing-key",
    template="exports/_signing_key.html",
    order=50,
    context=signing_key_context,
)
