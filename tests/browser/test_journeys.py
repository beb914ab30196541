"""The journeys a clinic lives by, in a real browser, at desktop and at phone size.

Each page on the way is checked with axe-core and saved as a screenshot (see conftest.py).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from clinic.tenancy import clinic_context
from demo import seed as demo
from patients.models import Patient
from tests import factories as f
from tests.browser.conftest import code_from_secret, fresh_code, mail_links, on_server

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def device_of(email: str) -> AuthenticatorDevice:
    return AuthenticatorDevice.objects.get(user__email=email, confirmed=True)


def test_admin_invites_a_practitioner_who_joins_and_records_a_treatment(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Riverside Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Alice Admin")
    newcomer = f"{f.unique('paula')}@example.test"

    # The admin signs in: password, then the code from the authenticator.
    j.sign_in(admin.email, f.PASSWORD, name="login")
    expect(page).to_have_url(re.compile(r"/two-factor/$"))
    j.enter_code(fresh_code(device_of(admin.email)), name="two-factor-verify")
    expect(page).to_have_url(re.compile(rf"/c/{clinic.slug}/$"))
    expect(page.get_by_role("heading", name="Find a patient")).to_be_visible()
    j.check("dashboard-empty")

    # Staff: invite a practitioner by e-mail.
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Staff"))
    j.check("staff-list")
    invite_form = page.get_by_role("region", name="Invite someone")
    invite_form.get_by_label("E-mail").fill(newcomer)
    invite_form.get_by_label("Role").select_option(Role.PRACTITIONER)
    j.submit("Send invitation")
    expect(page.get_by_text(f"Invitation to {newcomer} saved")).to_be_visible()
    # The e-mail left after commit (in-process here), so the list already says when.
    expect(page.get_by_text(re.compile(r"sent at \d+ \w+ \d{4}, \d\d:\d\d"))).to_be_visible()
    j.check("staff-list-invited")
    j.follow(page.get_by_role("link", name="Alice Admin"))
    j.check("staff-detail")

    (invite,) = [m for m in mail.outbox if newcomer in m.to]
    (link,) = [u for u in mail_links(invite) if "/invite/" in u]
    invite_url = on_server(link, server)
    j.sign_out()
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    # The invitee opens the link, creates an account and sets up two-factor sign-in.
    j.visit(invite_url)
    expect(page.get_by_role("heading", name="Join Riverside Aesthetics")).to_be_visible()
    j.check("accept-invitation")
    page.locator("#id_full_name").fill("Paula Prescriber")
    page.locator("#id_password").fill("a-long-clinic-pass-42")
    page.locator("#id_password_again").fill("a-long-clinic-pass-42")
    j.submit("Create my account")
    expect(page).to_have_url(re.compile(r"/two-factor/setup/$"))
    j.check("two-factor-setup")
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("6-digit code shown in your app").fill(code_from_secret(secret))
    j.submit("Confirm and continue")
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    expect(page.locator(".codes code")).to_have_count(10)
    # Our own script runs under the CSP (script-src 'self') and reveals the print button.
    expect(page.get_by_role("button", name="Print the codes")).to_be_visible()
    j.check("backup-codes")
    j.follow(page.get_by_role("link", name="I have saved them, continue"))
    expect(page).to_have_url(re.compile(rf"/c/{clinic.slug}/$"))

    # The used link now explains itself instead of working twice.
    j.visit(invite_url)
    expect(page.get_by_role("heading", name="This link can't be used")).to_be_visible()
    j.check("invitation-problem")

    # Next day, so to speak: sign in again. The enrolment code may not be reused.
    j.visit(j.url(f"/c/{clinic.slug}/"))
    j.sign_out()
    j.sign_in(newcomer, "a-long-clinic-pass-42")
    j.enter_code(fresh_code(device_of(newcomer)))
    expect(page).to_have_url(re.compile(rf"/c/{clinic.slug}/$"))

    # A new patient: a date of birth in the future is refused with a clear message.
    j.follow(page.get_by_role("link", name="New patient").first)
    j.check("patient-form")
    page.get_by_label("First name").fill("Joanne")
    page.get_by_label("Last name").fill("Smith")
    tomorrow = timezone.localdate() + timedelta(days=1)
    page.get_by_label("Date of birth").fill(tomorrow.isoformat())
    page.get_by_label("E-mail").fill("joanne.smith@patients.example")
    page.get_by_label("Phone").fill("07700 900123")
    j.submit("Add patient")
    expect(page.locator(".field__error")).to_have_text("The date of birth cannot be in the future.")
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    j.check("patient-form-errors")
    page.get_by_label("Date of birth").fill("1985-03-14")
    j.submit("Add patient")
    expect(page.get_by_role("heading", name="Joanne Smith")).to_be_visible()
    expect(page.get_by_text("No treatments recorded yet.")).to_be_visible()
    j.check("patient-detail-new")

    # Record a treatment.
    j.follow(page.get_by_role("link", name="+ Record treatment"))
    j.check("treatment-form")
    page.get_by_label("Treatment type").select_option(label="Botulinum toxin")
    page.get_by_label("Forehead").check()
    page.get_by_label("Glabella (frown lines)").check()
    page.get_by_label("Date of treatment").fill(timezone.localdate().isoformat())
    page.get_by_label("Product used").fill("Botox 50u")
    page.get_by_label("Product batch / lot number").fill("C1234")
    j.submit("Record treatment")
    expect(page.get_by_text("Treatment recorded.")).to_be_visible()
    expect(page.get_by_text("Forehead, Glabella (frown lines)")).to_be_visible()
    expect(page.get_by_text("batch C1234")).to_be_visible()
    j.check("patient-detail")

    # Find her again from the top bar: part of each name, then the date of birth as typed in the UK.
    for query, shot in (("jo smi", "patient-list-results"), ("14/03/1985", None)):
        search = page.get_by_role("search").get_by_label("Find a patient")
        search.fill(query)
        with page.expect_navigation():
            search.press("Enter")
        j.audit()
        expect(page.get_by_text(f"1 patient matching “{query}”")).to_be_visible()
        if shot:
            j.check(shot)
        j.follow(page.get_by_role("link", name=re.compile("Smith, Joanne")))
        expect(page.get_by_role("heading", name="Joanne Smith")).to_be_visible()

    search = page.get_by_role("search").get_by_label("Find a patient")
    search.fill("nobody-by-this-name")
    with page.expect_navigation():
        search.press("Enter")
    j.audit()
    expect(page.get_by_text("No patient matches “nobody-by-this-name”.")).to_be_visible()
    j.check("patient-list-empty")

    # Her own account page, and a page that does not exist.
    page.locator("details.menu summary").click()
    j.follow(page.get_by_role("link", name="Your account & security"))
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    j.check("account")
    response = page.goto(j.url(f"/c/{clinic.slug}/patients/{uuid.uuid4()}/"))
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    j.check("not-found")


def _demo_code(email: str) -> str:
    """The demo authenticator's code now, or the next one if this step was already used (the
    journey runs at two sizes, possibly within one 30-second step)."""
    device = device_of(email)
    if device.last_t < int(time.time() // device.step):
        return demo.demo_code(email)
    return fresh_code(device)


def _wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def test_demo_staff_sign_in_and_see_what_their_role_allows(journey, server):
    j, page = journey, journey.page
    harbour = next(c for c in demo.seed(patients_per_clinic=5) if c.slug == "harbour")
    with clinic_context(harbour.id):  # other tests may have seeded, or archived someone
        listed = min(Patient.objects.filter(clinic=harbour, archived_at=None).count(), 25)

    # Nadia, a practitioner, mistypes her code first: the page says so plainly.
    nadia = "nadia.nurse@harbour.example"
    j.sign_in(nadia, demo.DEMO_PASSWORD)
    page.get_by_label(re.compile("code", re.I)).first.fill(_wrong(demo.demo_code(nadia)))
    j.submit("Sign in")
    expect(page.get_by_text("That code is not right")).to_be_visible()
    j.check("two-factor-wrong-code")
    time.sleep(1.1)  # django-otp throttles the next attempt for a second after a failure
    j.enter_code(_demo_code(nadia))
    expect(page).to_have_url(re.compile(r"/c/harbour/$"))
    expect(page.get_by_role("link", name="Harbour Aesthetics")).to_be_visible()
    j.check("demo-dashboard")
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Patients"))
    expect(page.locator("main .list li")).to_have_count(listed)
    j.check("patient-list-all")
    j.sign_out()

    # Ruby, at reception, can find patients but records no treatments and manages no staff.
    ruby = "ruby.reception@harbour.example"
    j.sign_in(ruby, "not-her-password")
    expect(page.get_by_role("alert")).to_have_text(
        "The e-mail or password is not right. Check them and try again."
    )
    j.check("login-wrong-password")
    j.sign_in(ruby, demo.DEMO_PASSWORD)
    j.enter_code(_demo_code(ruby))
    expect(page).to_have_url(re.compile(r"/c/harbour/$"))
    clinic_nav = page.get_by_role("navigation", name="Clinic")
    expect(clinic_nav.get_by_role("link", name="Staff")).to_have_count(0)
    j.follow(page.locator("main .list__link").first)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_text("Record treatment")).to_have_count(0)
    j.check("patient-detail-reception")
    j.sign_out()

    # Leo works at two clinics and chooses one.
    leo = "leo.locum@example.org"
    j.sign_in(leo, demo.DEMO_PASSWORD)
    j.enter_code(_demo_code(leo))
    expect(page.get_by_role("heading", name="Choose a clinic")).to_be_visible()
    j.check("choose-clinic")
    j.follow(page.get_by_role("link", name=re.compile("Northgate Skin Clinic")))
    expect(page).to_have_url(re.compile(r"/c/northgate/$"))


def test_admin_brands_the_clinic_and_patients_see_the_logo(journey, server):
    import io

    from PIL import Image, ImageDraw

    j, page = journey, journey.page
    clinic = f.make_clinic("Seaview Skin")
    admin = f.make_member(clinic, Role.ADMIN, "Sam Admin")
    j.sign_in(admin.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(admin.email)))
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Settings"))
    j.check("clinic-settings")

    logo = Image.new("RGBA", (900, 300), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((20, 20, 280, 280), fill=(15, 95, 90, 255))
    buffer = io.BytesIO()
    logo.save(buffer, "PNG")
    page.get_by_label("Clinic name").fill("Seaview Skin Clinic")
    page.get_by_label("Logo").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": buffer.getvalue()}
    )
    j.submit("Save")
    expect(page.get_by_text("Clinic settings saved.")).to_be_visible()
    preview = page.get_by_role("img", name="Current logo of Seaview Skin Clinic")
    expect(preview).to_be_visible()
    # Stored at most 512 px, with its transparent margins cropped away.
    assert 0 < preview.evaluate("img => img.naturalWidth") <= 512
    j.check("clinic-settings-saved")

    # A patient's page (here: a link that is not valid) carries the clinic's logo.
    j.sign_out()
    j.visit(f"/p/{clinic.slug}/sign/{'x' * 43}/", name=None)
    header_logo = page.locator(".public-head__logo")
    expect(header_logo).to_be_visible()
    assert header_logo.evaluate("img => img.complete && img.naturalWidth > 0")
    j.check("consent-link-invalid-branded")
