"""The backups section of the clinic settings page (accounts.settings_sections)."""

from __future__ import annotations

from typing import Any

from accounts.settings_sections import SettingsSection
from audit.http import ClinicRequest


def _context(request: ClinicRequest) -> dict[str, Any]:
    from backups.selectors import backup_status

    return {"backup_status": backup_status()}


BACKUPS_SECTION = SettingsSection(
    name="backups", template="backups/_settings_section.html", order=50, context=_context
)
