"""The audit log in a real browser: a clinic admin filters the log by a patient they type, opens
that patient's "who has accessed this record" panel and the full log from it, and downloads the
CSV, whose cells that a spreadsheet would run as formulas start with an apostrophe. At phone
size and at desktop; every page audited with axe and photographed."""

from __future__ import annotations

import csv
import re
from datetime import date

import pytest
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from clinic.tenancy import clinic_context
from patients import services as patient_services
from tests import factories as f
from tests.browser.conftest import fresh_code

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_admin_filters_the_log_opens_the_access_panel_and_exports_csv(journey, tmp_path):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Amelia Admin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nadia Nurse")
    reception = f.make_member(clinic, Role.RECEPTION, "Rhys Reception")
    olivia = f.make_patient(
        clinic, reception, first_name="Olivia", last_name="Hart", date_of_birth=date(1988, 5, 2)
    )
    # A name typed to attack whoever opens the export in a spreadsheet.
    sly = f.make_patient(clinic, reception, first_name='=HYPERLINK("http://x")', last_name="Sly")
    episode = f.make_episode(clinic, olivia, nurse, treatment_type="filler", areas=["lips"])
    f.make_ready_photo(clinic, olivia, episode, nurse, area="lips")
    with clinic_context(clinic.id):
        for patient, by in ((olivia, nurse), (olivia, reception), (sly, nurse)):
            patient_services.patient_viewed(clinic=clinic, patient=patient, by=by)

    j.sign_in(admin.email, f.PASSWORD)
    j.enter_code(fresh_code(AuthenticatorDevice.objects.get(user=admin, confirmed=True)))
    if j.viewport == "phone":
        page.get_by_role("navigation", name="Clinic").get_by_role(
            "link", name="Audit log"
        ).scroll_into_view_if_needed()
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Audit log"))
    j.check("audit-log")
    expect(page.locator(".audit-table")).to_contain_text("Nadia Nurse")

    # Filter by the patient, typed.
    page.get_by_label("Patient", exact=True).fill("olivia hart")
    j.follow(page.locator("main").get_by_role("button", name="Show"))
    expect(page.locator(".audit-chip")).to_contain_text("Olivia Hart")
    table = page.locator(".audit-table")
    expect(table).to_contain_text("Nadia Nurse")
    expect(table).to_contain_text("Rhys Reception")
    expect(table).not_to_contain_text("Sly")
    j.check("audit-log-patient")

    # The patient page's access panel, and from it the full log again.
    j.follow(table.get_by_role("link", name="Olivia Hart").first)
    panel = page.locator("#access")
    panel.scroll_into_view_if_needed()
    expect(panel).to_contain_text("Who has accessed this record")
    expect(panel).to_contain_text("Nadia Nurse")
    expect(panel).to_contain_text("Opened the patient's record")
    j.check("audit-access-panel")
    j.follow(panel.get_by_role("link", name="Full log for Olivia"))
    expect(page.locator(".audit-chip")).to_contain_text("Olivia Hart")

    # Everything, as CSV: opened as a spreadsheet would read it.
    j.follow(page.get_by_role("link", name=re.compile("Any patient")))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"audit-.+-\d{8}-\d{4}\.csv", download.suggested_filename)
    path = tmp_path / "audit.csv"
    download.save_as(path)
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    sly_rows = [r for r in rows if r["patient id"] == str(sly.pk)]
    assert sly_rows and {r["patient"] for r in sly_rows} == {'\'=HYPERLINK("http://x") Sly'}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert {"Nadia Nurse", "Rhys Reception", "Amelia Admin"} <= {r["staff member"] for r in rows}
    # The log page says the export happened.
    j.visit(f"/c/{clinic.slug}/audit/?action=audit.exported", "audit-log-exported")
    expect(page.locator(".audit-table")).to_contain_text("Exported the audit log")
