"""The patient's own pages on a phone (issue 12, item 3): the date of birth in three numeric
fields, a missing required use caught in the page with the summary at the top and focused,
withdrawing all asks once, and an undo that restores a use as a new event. Desktop and phone,
axe and a screenshot at every step."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from clinic.models import Role
from clinic.tenancy import clinic_context
from consent import selectors
from consent import services as consent_services
from consent.models import ConsentRecord, ConsentRestoration, ConsentWithdrawal
from tests import factories as f
from tests.browser.conftest import VIEWPORTS, on_server
from tests.browser.test_consent_journey import (  # noqa: F401 (inbox is a fixture)
    check_state,
    draw_signature,
    fill_dob,
    inbox,
    link_in,
    patient_browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
DOB = date(1979, 11, 2)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_patient_signs_withdraws_all_with_a_confirmation_and_undoes_one_use(
    browser,
    server,
    inbox,  # noqa: F811 (the fixture imported above)
    viewport,
):
    clinic = f.make_clinic("Harbour Aesthetics")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    email = f"{f.unique('amara')}@example.test"
    patient = f.make_patient(
        clinic, nurse, first_name="Amara", last_name="Osei", date_of_birth=DOB, email=email
    )
    with clinic_context(clinic.id):
        consent_services.request_send(clinic=clinic, patient=patient, by=nurse)
    request_mail = inbox.wait_for(email, "your consent")
    sign_url = on_server(link_in(request_mail, "sign"), server)
    withdraw_url = on_server(link_in(request_mail, "withdraw"), server)
    height = VIEWPORTS[viewport]["viewport"]["height"]

    with patient_browser(browser, server, viewport) as (p, _seen):
        pp = p.page
        p.visit(sign_url, "patient-identity")
        expect(pp.locator('input[type="date"]')).to_have_count(0)
        fill_dob(pp, DOB)
        p.follow(pp.get_by_role("button", name="Continue"))

        # The choices are on the first screen or just below, not after the whole text.
        choices = pp.locator(".consent-choices")
        assert choices.bounding_box()["y"] < height, choices.bounding_box()
        assert choices.bounding_box()["y"] < pp.locator("#consent-text").bounding_box()["y"]
        p.check("patient-sign")
        # The full text is one tap away, and comes before the Sign button.
        pp.get_by_role("link", name="Read the full form").click()
        expect(pp.locator("#consent-text")).to_be_in_viewport()
        check_state(p, "patient-sign-full-text")

        # Only social media ticked: the page stops it before sending, summary at the top.
        pp.locator(".consent-choice", has_text="Social media").click()
        pp.get_by_label("Type your full name").fill("Amara Osei")
        draw_signature(pp, pp.locator("#signature-pad"), touch=viewport == "phone")
        url_before = pp.url
        pp.get_by_role("button", name="Sign", exact=True).click()
        summary = pp.locator("#error-summary")
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()
        expect(summary).to_be_in_viewport()
        assert summary.bounding_box()["y"] < 300, summary.bounding_box()
        expect(summary).to_contain_text("needs your consent to: Clinical record")
        assert pp.url == url_before
        with clinic_context(clinic.id):
            assert not ConsentRecord.objects.filter(patient=patient).exists()
        check_state(p, "patient-sign-summary")
        # Its link goes to the box; tick it and sign.
        summary.get_by_role("link").click()
        expect(pp.locator("#id_use_clinical_record")).to_be_focused()
        pp.locator(".consent-choice", has_text="Clinical record").click()
        expect(pp.locator("#id_use_clinical_record")).to_be_checked()
        p.follow(pp.get_by_role("button", name="Sign", exact=True))
        expect(
            pp.get_by_role("heading", name="Thank you, your consent is recorded")
        ).to_be_visible()
        p.check("patient-signed")

        # Withdraw social media: one tap, with an undo.
        p.visit(withdraw_url, "patient-withdraw")
        p.follow(pp.get_by_role("button", name="Withdraw Social media"))
        expect(pp.locator(".public-messages")).to_contain_text("Withdrawn: Social media.")
        undo = pp.get_by_role("button", name=re.compile("^Undo"))
        expect(undo).to_be_visible()
        p.check("patient-withdrawn-with-undo")
        p.follow(undo)
        expect(pp.locator(".public-messages")).to_contain_text(
            "Undone: you agree again to Social media"
        )
        expect(pp.get_by_role("button", name="Withdraw Social media")).to_be_visible()
        p.check("patient-undone")

        # Withdraw all: asked once, with what it means for care.
        p.follow(pp.get_by_role("button", name="Withdraw all"))
        expect(pp.get_by_role("heading", name="Withdraw all your photo consent?")).to_be_visible()
        expect(pp.locator("main")).to_contain_text("What this means for your care")
        p.check("patient-withdraw-all-confirm")
        with clinic_context(clinic.id):
            assert "clinical_record" in selectors.active_uses(clinic=clinic, patient=patient)
        p.follow(pp.get_by_role("button", name="Yes, withdraw all"))
        expect(pp.locator(".public-messages")).to_contain_text("Withdrawn: Clinical record")
        expect(pp.get_by_role("button", name=re.compile("^Undo"))).to_have_count(0)
        p.check("patient-withdrawn-all")

    with clinic_context(clinic.id):
        assert selectors.active_uses(clinic=clinic, patient=patient) == set()
        assert ConsentWithdrawal.objects.filter(patient=patient).count() == 2
        assert ConsentRestoration.objects.filter(patient=patient).count() == 1
        social = selectors.consent_periods(clinic=clinic, patient=patient)["social_media"]
    assert len(social) == 2 and all(period.end for period in social)
