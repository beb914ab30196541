"""Retention in a real browser: an admin sees the record on the due list, places a legal hold
(the patient page shows it, erasure is refused), lifts it, confirms the erasure by typing the
name and sees the recipients to tell; and the patient's ledger behind the withdrawal link.
At phone size and at desktop; every page audited and photographed."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from clinic.tenancy import clinic_context
from comparisons.models import Comparison, ComparisonShare
from consent import services as consent_services
from exports import services as export_services
from patients.models import Patient
from retention.models import Erasure
from tests import factories as f
from tests.browser.conftest import fresh_code, on_server
from tests.retention.records import old_datetime

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LONG_AGO = timezone.localdate() - timedelta(days=365 * 9)


def _exported(clinic, patient, admin, recipient: str, reason: str = "claim"):
    with clinic_context(clinic.pk):
        export = export_services.export_create(
            clinic=clinic,
            patient=patient,
            recipient=recipient,
            reason=reason,
            by=admin,
            queue=False,
        )
        export_services.export_build(clinic_id=clinic.pk, export_id=export.pk)
    return export


def test_admin_holds_lifts_and_erases_a_record_and_sees_whom_to_tell(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Amelia Admin")
    patient = f.make_patient(
        clinic,
        admin,
        first_name="Margaret",
        last_name="Ellison",
        email="margaret@example.com",
        phone="07700 900555",
    )
    episode = f.make_episode(
        clinic, patient, admin, treatment_type="filler", areas=["lips"], performed_on=LONG_AGO
    )
    for stage in ("before", "after"):
        f.make_ready_photo(
            clinic,
            patient,
            episode,
            admin,
            stage=stage,
            area="lips",
            taken_at=old_datetime(LONG_AGO),
        )
    f.make_signed_consent(clinic, patient, admin, uses=["clinical_record", "website"])
    _exported(clinic, patient, admin, "Hiscox claims, ref HX-4411")

    j.sign_in(admin.email, f.PASSWORD)
    j.enter_code(fresh_code(AuthenticatorDevice.objects.get(user=admin, confirmed=True)))
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Retention"))
    expect(page.locator(".retention-due")).to_contain_text("Margaret Ellison")
    j.check("retention-due-list")

    # A claim comes in: the admin places a legal hold from the patient's page.
    j.follow(page.get_by_role("link", name="Margaret Ellison", exact=True))
    page.locator("#retention").scroll_into_view_if_needed()
    page.locator("#retention summary", has_text="Place a legal hold").click()
    page.get_by_label("Why the record must be kept").fill("Claim HX-4411 opened by Hiscox")
    j.follow(page.get_by_role("button", name="Place legal hold"))
    expect(page.locator("#legal-hold")).to_contain_text("Claim HX-4411 opened by Hiscox")
    j.check("retention-hold-placed")

    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/erase/")
    expect(page.get_by_role("alert")).to_contain_text("under a legal hold")
    expect(page.get_by_role("button", name="Erase this record for good")).to_have_count(0)
    j.check("retention-erase-refused")

    # The claim is settled: the hold is lifted and the record is erased.
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/#retention")
    j.follow(page.get_by_role("button", name="Lift legal hold"))
    expect(page.locator("#legal-hold")).to_have_count(0)
    j.follow(page.get_by_role("link", name="Erase record…"))
    expect(page.locator("#recipients-h + p + table")).to_contain_text("Hiscox claims")
    j.check("retention-erase-confirm")
    page.get_by_label("Type the patient's full name to confirm").fill("Margaret Elison")
    j.submit("Erase this record for good")
    expect(page.locator(".field__error")).to_contain_text("not this patient's full name")
    page.get_by_label("Type the patient's full name to confirm").fill("Margaret Ellison")
    j.submit("Erase this record for good")
    expect(page).to_have_url(re.compile(r"/erasures/[0-9a-f-]+/$"))
    expect(page.locator("table.recipients")).to_contain_text("Hiscox claims, ref HX-4411")
    expect(page.locator("main")).not_to_contain_text("Margaret")
    j.check("retention-tombstone")
    with clinic_context(clinic.pk):
        assert not Patient.objects.filter(pk=patient.pk).exists()
        assert Erasure.objects.get(clinic=clinic).confirmed_by == admin


def test_the_patient_sees_where_their_photos_went(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Amelia Admin")
    patient = f.make_patient(
        clinic, admin, first_name="Lena", last_name="Fox", email="lena@example.com"
    )
    episode = f.make_episode(clinic, patient, admin, treatment_type="filler", areas=["lips"])
    before = f.make_ready_photo(clinic, patient, episode, admin, stage="before", area="lips")
    after = f.make_ready_photo(clinic, patient, episode, admin, stage="after", area="lips")
    f.make_signed_consent(
        clinic, patient, admin, uses=["clinical_record", "website", "social_media"]
    )
    with clinic_context(clinic.pk):
        consent_services.marketing_add(clinic=clinic, photo=after, use="website", by=admin)
        item = consent_services.marketing_add(
            clinic=clinic, photo=after, use="social_media", by=admin
        )
        consent_services.marketing_remove(clinic=clinic, item=item, by=admin)
        comparison = Comparison.objects.create(
            clinic=clinic,
            patient=patient,
            before=before,
            after=after,
            created_by=admin,
            proposal={},
            transform={},
        )
        ComparisonShare.objects.create(
            clinic=clinic,
            comparison=comparison,
            patient=patient,
            token_hash=secrets.token_hex(32),
            sent_to=patient.email,
            sent_by=admin,
            expires_at=timezone.now() + timedelta(days=30),
            emailed_at=timezone.now(),
            opened_at=timezone.now(),
            views=3,
        )
    _exported(clinic, patient, admin, "Bupa claims team, ref 88120")
    with clinic_context(clinic.pk):
        link = consent_services.withdrawal_link_create(clinic=clinic, patient=patient)

    j.visit(on_server(link, server))
    ledger = page.locator(".ledger")
    expect(ledger).to_contain_text("The clinic's marketing library: Clinic website")
    expect(ledger).to_contain_text("A before/after comparison e-mailed to you")
    expect(ledger).to_contain_text("Exported to Bupa claims team, ref 88120 (insurance claim)")
    expect(ledger.locator(".ledger__use--ended")).to_contain_text("removed")
    expect(ledger.locator("img")).to_have_count(0)
    ledger.scroll_into_view_if_needed()
    j.check("patient-ledger")
