"""Evidence export in a real browser: a clinic admin starts an export from the patient page,
watches its progress without reloading, downloads the ZIP, and the bundle verifies with the
recipient's standard tools. At phone size and at desktop; every page audited and photographed."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from clinic import outbox
from clinic.models import AuthenticatorDevice, Job, Role
from clinic.tenancy import clinic_context
from exports import services
from exports.models import Export
from exports.tasks import build_export
from tests import factories as f
from tests.browser.conftest import fresh_code
from tests.exports import helpers as h

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_admin_exports_a_patient_watches_progress_and_downloads(
    journey, server, monkeypatch, tmp_path
):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Amelia Admin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nadia Nurse")
    patient = f.make_patient(
        clinic, nurse, first_name="Olivia", last_name="Hart", email="olivia@example.com"
    )
    episode = f.make_episode(
        clinic,
        patient,
        nurse,
        treatment_type="filler",
        areas=["lips"],
        performed_on=date(2026, 2, 3),
        product="Juvederm Volbella 1 ml",
        batch_number="VB-55120",
    )
    for stage in ("before", "after"):
        f.make_ready_photo(clinic, patient, episode, nurse, stage=stage, area="lips")
    f.make_signed_consent(clinic, patient, nurse, uses=["clinical_record", "website"])

    # The broker is "down" when the export is asked for: the job waits in the outbox, so the
    # page shows the export queued, and the test plays the worker below.
    monkeypatch.setattr(outbox, "send", lambda task, job: False)

    j.sign_in(admin.email, f.PASSWORD)
    j.enter_code(fresh_code(AuthenticatorDevice.objects.get(user=admin, confirmed=True)))
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    page.locator("#exports").scroll_into_view_if_needed()
    j.check("export-patient-page")
    page.get_by_label("Recipient").fill("Hiscox claims, ref HX-4411")
    page.get_by_label("Reason").select_option("claim")
    j.follow(page.get_by_role("button", name="Export record"))
    expect(page).to_have_url(re.compile(r"/exports/[0-9a-f-]+/$"))
    expect(page.locator("[data-export-label]")).to_have_text("Being prepared")
    with clinic_context(clinic.pk):
        export = Export.objects.get(clinic=clinic, patient=patient)

    # The worker reports progress; the page follows without a reload.
    cache.set(services._progress_key(export.pk), 40, 60)
    expect(page.locator("[data-export-percent]")).to_have_text("40%", timeout=10_000)
    j.check("export-progress")

    # The worker delivers the job (and marks it done, so no later sweep finds it pending).
    with clinic_context(clinic.pk):
        job = Job.objects.get(clinic=clinic, task=build_export.name)
    build_export.apply(kwargs=outbox.message_kwargs(job))
    with clinic_context(clinic.pk):
        job.refresh_from_db()
    assert job.state == "done"
    download_link = page.get_by_role("link", name=re.compile("Download ZIP"))
    expect(download_link).to_be_visible(timeout=10_000)
    expect(page.locator("[data-export-label]")).to_have_text("Ready to download")
    j.check("export-ready")

    with page.expect_download() as download_info:
        download_link.click()
    zip_path = tmp_path / "bundle.zip"
    download_info.value.save_as(zip_path)
    folder = h.unzip(zip_path, tmp_path / "bundle")
    manifest = h.assert_bundle_verifies(folder)
    assert manifest["recipient"] == "Hiscox claims, ref HX-4411"
    assert "VB-55120" in h.pdf_text(folder / "summary.pdf")

    # The patient page lists it, and the settings page shows the key that signed it.
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    expect(page.locator("#exports")).to_contain_text("Hiscox claims, ref HX-4411")
    j.visit(f"/c/{clinic.slug}/settings/", "export-signing-key")
    expect(page.locator("#export-key")).to_contain_text(manifest["signature"]["public_key_sha256"])

    # The cover letter to send apart from the bundle, from the export page.
    j.visit(f"/c/{clinic.slug}/exports/{export.pk}/", "export-cover-letter-offered")
    expect(page.get_by_role("link", name="Cover letter (PDF)")).to_be_visible()
    expect(page.locator(".export-detail")).to_contain_text("GPS location")

    # The bundle comes back from the insurer: the admin checks it, intact, then tampered.
    j.visit(f"/c/{clinic.slug}/exports/check/")
    page.get_by_label("Evidence bundle (ZIP)").set_input_files(str(zip_path))
    j.follow(page.get_by_role("button", name="Check bundle"))
    expect(page.get_by_role("heading", name=re.compile("^Intact"))).to_be_visible()
    j.check("export-bundle-intact")
    original = sorted((folder / "originals").iterdir())[0]
    original.write_bytes(original.read_bytes() + b"\0")
    tampered = h.rezip(folder, tmp_path / "tampered.zip")
    page.get_by_label("Evidence bundle (ZIP)").set_input_files(str(tampered))
    j.follow(page.get_by_role("button", name="Check bundle"))
    expect(page.get_by_role("heading", name=re.compile("^Not intact"))).to_be_visible()
    expect(page.locator(".check-problems")).to_contain_text(f"originals/{original.name}")
    j.check("export-bundle-tampered")

    # The public key page a recipient checks the key against (no account needed).
    j.sign_out()
    j.visit(f"/p/{clinic.slug}/export-keys/", "export-keys-public")
    expect(page.locator("main")).to_contain_text(manifest["signature"]["public_key_sha256"])
