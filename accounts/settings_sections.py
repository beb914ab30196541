"""The clinic settings page as a hub: apps above the ground floor add a section (the export
signing key) by registering it when they start, so clinic never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.http import ClinicRequest
from clinic.hubs import Hub, assemble


@dataclass(frozen=True)
class SettingsSection:
    """One section of the settings page: its template, place and context function."""

    name: str
    template: str
    order: int
    context: Callable[[ClinicRequest], dict[str, Any]]


SECTIONS: Hub[SettingsSection] = Hub(
    "accounts.settings_sections", "sections of the clinic settings page"
)


def register(section: SettingsSection) -> None:
    """Add (or replace, by name) a section; called from an app's ready()."""
    SECTIONS.register(section.name, section, order=section.order)


def sections_for(request: ClinicRequest) -> tuple[list[str], dict[str, Any]]:
    """The sections' templates in order, and their merged context."""
    return assemble(SECTIONS.values(), request)
