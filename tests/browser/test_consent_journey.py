"""Consent in a real browser, phone first: a practitioner sends the form, the e-mail goes through
a real SMTP server started here (aiosmtpd), the patient signs on their phone with a drawn
signature, the PDF copy arrives as an attachment, and later the patient withdraws one use in
fewer steps than signing took, which takes the photo out of the marketing library at once.

Each journey runs at phone size (390x844, touch) and at desktop; every page is audited with axe
and photographed (see conftest.py). The patient's browser is a context of its own, without staff
cookies, and every request it makes is recorded to prove the link token never leaves the first
URL: not in a later URL and not in any Referer header.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from PIL import Image
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from clinic.tenancy import clinic_context
from consent import services as consent_services
from consent.models import ConsentRecord, ConsentRequest, MarketingItem
from tests import factories as f
from tests.browser.conftest import (
    SCREENSHOTS,
    VIEWPORTS,
    Journey,
    fresh_code,
    on_server,
    watch_for_errors,
)
from vault import storage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DOB = date(1987, 9, 23)


def fill_dob(page, dob: date) -> None:
    """Day, month and year typed into their three numeric fields, as on a phone."""
    for label, value in (("Day", dob.day), ("Month", dob.month), ("Year", dob.year)):
        field = page.get_by_label(label, exact=True)
        assert field.get_attribute("inputmode") == "numeric"
        field.fill(str(value))


# --- a real SMTP server on loopback -----------------------------------------------------------


class Inbox:
    """aiosmtpd handler: keeps every message it is given, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, subject: str, timeout: float = 20) -> EmailMessage:
        """The one message to ``to`` whose subject contains ``subject``, once it has arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [
                    m
                    for m in self.messages
                    if to in m["X-Envelope-To"] and subject in str(m["Subject"])
                ]
            if found:
                assert len(found) == 1, [str(m["Subject"]) for m in found]
                return found[0]
            assert time.monotonic() < deadline, (
                f"no e-mail to {to} about {subject!r}; got "
                f"{[(m['X-Envelope-To'], str(m['Subject'])) for m in self.messages]}"
            )
            time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """Django sends through SMTP to our server for this test. The live server is a thread of
    this process, so the overridden settings apply to its requests too."""
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=10,
        ):
            yield handler
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage, kind: str) -> str:
    """The /p/<clinic>/<kind>/<token>/ link of an e-mail, pointed at the live server."""
    (url,) = re.findall(rf"https?://\S+/p/[\w-]+/{kind}/[\w-]+/", text_of(message))
    return url


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def pdf_attachment(message: EmailMessage) -> bytes:
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename().endswith(".pdf")
    return attachment.get_content()


def pdf_text(data: bytes, keep_as: str | None = None) -> str:
    """pdftotext of the PDF; with ``keep_as``, its first page is also rendered as a PNG beside
    the screenshots, to be looked at."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "copy.pdf"
        path.write_bytes(data)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout
        if keep_as:
            SCREENSHOTS.mkdir(exist_ok=True)
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", str(path), str(SCREENSHOTS / keep_as)],
                check=True,
            )
    return text


# --- the patient's own browser ------------------------------------------------------------------


@dataclass
class Seen:
    """What the patient's browser did: requests (URL and Referer), page loads and clicks."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    loads: int = 0
    clicks: int = 0

    def steps(self) -> int:
        return self.loads + self.clicks


@contextmanager
def patient_browser(browser, server, viewport: str) -> Iterator[tuple[Journey, Seen]]:
    """A fresh browser context (no staff cookies), with the same checks as the staff journey:
    no script or CSP errors, no failed assets, strict CSP on every page, axe on every page."""
    context = browser.new_context(base_url=server.url, locale="en-GB", **VIEWPORTS[viewport])
    context.set_default_timeout(10_000)
    page = context.new_page()
    seen = Seen()
    errors = watch_for_errors(page)

    def on_load(_page) -> None:
        seen.loads += 1

    page.on("load", on_load)
    context.on("request", lambda r: seen.requests.append((r.url, r.headers.get("referer") or "")))
    journey = Journey(page, server.url, viewport)
    try:
        yield journey, seen
    finally:
        context.close()
    assert not errors, f"the patient's browser reported errors: {errors}"
    assert not journey.problems, "\n".join(["pages with problems:", *journey.problems])


def click(seen: Seen, locator, **kwargs) -> None:
    seen.clicks += 1
    locator.click(**kwargs)


def draw_signature(page, canvas, touch: bool) -> None:
    """A signature in two strokes: a looping line with the mouse (pointer events of a mouse),
    then, on a touch screen, an underline with a finger (real touch events through the
    DevTools protocol, as Playwright has no touch-move of its own)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    points = [
        (0.08, 0.70),
        (0.18, 0.25),
        (0.26, 0.75),
        (0.36, 0.30),
        (0.46, 0.70),
        (0.58, 0.35),
        (0.70, 0.65),
        (0.85, 0.30),
    ]
    page.mouse.move(x0 + w * points[0][0], y0 + h * points[0][1])
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x0 + w * px, y0 + h * py, steps=6)
    page.mouse.up()
    if not touch:
        return
    # The error note above the pad goes when the first stroke ends; measure the pad again, as
    # a finger would follow it.
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    cdp = page.context.new_cdp_session(page)

    def touch_event(kind: str, x: float | None = None) -> None:
        points = [] if x is None else [{"x": x, "y": y0 + h * 0.85}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch_event("touchStart", x0 + w * 0.15)
    for step in range(1, 13):
        touch_event("touchMove", x0 + w * (0.15 + 0.06 * step))
    touch_event("touchEnd")
    cdp.detach()


def ink_box(png: bytes) -> tuple[int, int, int, int, int, int]:
    """Size and inked bounding box of a signature PNG: (width, height, left, top, right, bottom)."""
    image = Image.open(io.BytesIO(png))
    alpha = image.convert("RGBA").getchannel("A")
    return (image.width, image.height, *alpha.getbbox())


def device_of(user) -> AuthenticatorDevice:
    return AuthenticatorDevice.objects.get(user=user, confirmed=True)


def check_state(j: Journey, name: str) -> None:
    """Screenshot and audit a new state of the same page."""
    j._audited = False
    j.check(name)


# --- the journey ----------------------------------------------------------------------------------


def test_patient_signs_on_a_phone_and_withdraws_as_easily(journey, server, browser, inbox):
    j, page = journey, journey.page
    phone = j.viewport == "phone"
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient_email = f"{f.unique('joanne')}@example.test"
    patient = f.make_patient(
        clinic,
        nurse,
        first_name="Joanne",
        last_name="Whitfield",
        date_of_birth=DOB,
        email=patient_email,
    )
    episode = f.make_episode(clinic, patient, nurse, areas=["lips"])
    photo = f.make_ready_photo(clinic, patient, episode, nurse)
    patient_path = f"/c/{clinic.slug}/patients/{patient.pk}/"

    # The practitioner signs in (password, then authenticator code) and finds the patient.
    j.sign_in(nurse.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(nurse)))
    search = page.locator("#dash-search")
    search.fill("whitfield")
    with page.expect_navigation():
        search.press("Enter")
    j.audit()
    j.follow(page.get_by_role("link", name=re.compile("Whitfield, Joanne")))
    consent_section = page.locator("#consent")
    expect(consent_section).to_contain_text("No consent in place.")
    j.check("consent-patient-none")

    # Before consent, the photo cannot go into the marketing library: no use is offered.
    j.visit(f"/c/{clinic.slug}/photos/{photo.pk}/")
    expect(page.get_by_label("Add to marketing library")).to_have_count(0)
    expect(page.locator(".marketing-none")).to_contain_text("has not consented")
    j.check("consent-photo-refused")

    # Send the consent form; it travels by SMTP to the patient.
    j.visit(patient_path)
    j.submit("Send consent form")
    expect(page.get_by_text(f"Consent request e-mailed to {patient_email}")).to_be_visible()
    expect(consent_section.locator(".badge", has_text="sent")).to_be_visible()
    j.check("consent-patient-requested")
    request_mail = inbox.wait_for(patient_email, "your consent to clinical photographs")
    sign_url = on_server(link_in(request_mail, "sign"), server)
    sign_token = token_of(sign_url)
    assert len(sign_token) >= 22  # at least 128 bits

    with patient_browser(browser, server, j.viewport) as (p, seen):
        pp = p.page
        # Open the link: the token moves into the session, the address bar loses it.
        p.visit(sign_url, "consent-identity")
        assert sign_token not in pp.url
        expect(pp).to_have_url(re.compile(rf"/p/{clinic.slug}/sign/$"))
        expect(pp.locator(".public-head")).to_contain_text("Harbour Aesthetics")
        fill_dob(pp, DOB)
        seen.clicks += 1
        p.follow(pp.get_by_role("button", name="Continue"))

        # Read, choose (nothing ticked beforehand), type the name, draw, sign.
        expect(
            pp.get_by_role("heading", name="Your consent to clinical photographs")
        ).to_be_visible()
        expect(pp.locator(".public-head")).to_contain_text("Harbour Aesthetics")
        boxes = pp.locator(".consent-choices input[type=checkbox]")
        expect(boxes).to_have_count(6)
        assert not any(boxes.evaluate_all("els => els.map(e => e.checked)"))
        p.check("consent-sign")
        for label in ("Clinical record", "Social media"):
            row = pp.locator(".consent-choice", has_text=label)
            row_box = row.bounding_box()
            assert row_box["height"] >= 44 and row_box["width"] >= 300, row_box
            # The whole row is the target: tap near its right-hand edge, away from the box.
            click(seen, row, position={"x": row_box["width"] - 12, "y": row_box["height"] / 2})
        checked = boxes.evaluate_all("els => els.filter(e => e.checked).map(e => e.name)")
        assert checked == ["use_clinical_record", "use_social_media"]
        pp.get_by_label("Type your full name").fill("Joanne Whitfield")
        canvas = pp.locator("#signature-pad")
        canvas_box = canvas.bounding_box()
        pad_width = canvas.evaluate("c => c.clientWidth")
        form_box = pp.locator("#sign-form").bounding_box()
        assert canvas_box["width"] >= form_box["width"] - 2, (canvas_box, form_box)
        assert canvas_box["height"] >= 140, canvas_box
        # A false start: drawn, cleared, and Sign pressed with an empty pad is stopped in the
        # page with a message by the pad (not counted as steps: this patient changed their mind).
        draw_signature(pp, canvas, touch=False)
        pad = pp.locator(".signature-box")
        expect(pad).to_have_class(re.compile("signature-box--signed"))
        pp.get_by_role("button", name="Clear signature").click()
        expect(pad).not_to_have_class(re.compile("signature-box--signed"))
        assert canvas.evaluate(
            "c => !c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v)"
        )
        pp.get_by_role("button", name="Sign", exact=True).click()
        expect(pp.locator("#signature-error")).to_be_visible()
        expect(pp).to_have_url(re.compile(rf"/p/{clinic.slug}/sign/$"))
        check_state(p, "consent-sign-no-signature")
        draw_signature(pp, canvas, touch=phone)
        seen.clicks += 1  # drawing counts as one step
        expect(pp.locator("#signature-error")).to_be_hidden()
        check_state(p, "consent-sign-filled")
        sign_button = pp.get_by_role("button", name="Sign", exact=True)
        sign_box = sign_button.bounding_box()
        assert sign_box["height"] >= 44, sign_box
        if phone:
            assert sign_box["width"] >= form_box["width"] - 2, (sign_box, form_box)
        seen.clicks += 1
        p.follow(sign_button)
        expect(
            pp.get_by_role("heading", name="Thank you, your consent is recorded")
        ).to_be_visible()
        expect(pp.locator("main")).to_contain_text("Clinical record")
        expect(pp.locator("main")).to_contain_text("Social media")
        p.check("consent-signed")
        signing_steps, signing_loads = seen.steps(), seen.loads
        # "Download my copy" on the thank-you page: the signed PDF, at once.
        with pp.expect_download() as download:
            pp.get_by_role("link", name="Download my copy").click()
        assert download.value.suggested_filename.startswith("photo-consent-")
        assert download.value.path().read_bytes()[:5] == b"%PDF-"

        # The evidence, with the drawn signature at the canvas's device pixels (sharp).
        with clinic_context(clinic.id):
            record = ConsentRecord.objects.select_related("signature").get(patient=patient)
            drawn = storage.blob_read(record.signature)
        assert record.typed_name == "Joanne Whitfield"
        assert record.uses_granted == ["clinical_record", "social_media"]
        assert "Chrome" in record.user_agent and record.ip == "127.0.0.1"
        ratio = VIEWPORTS[j.viewport].get("device_scale_factor", 1)
        width, height, left, top, right, bottom = ink_box(drawn)
        assert width == round(pad_width * ratio), (width, pad_width, ratio)
        assert right - left > width * 0.6 and top < height * 0.35
        if phone:  # the finger's underline reached the bottom of the pad
            assert bottom > height * 0.8, (bottom, height)

        # The PDF copy arrives by e-mail; it holds the text shown and the choices made.
        copy_mail = inbox.wait_for(patient_email, "your signed photo consent")
        text = pdf_text(pdf_attachment(copy_mail), keep_as=f"consent-pdf-{j.viewport}")
        flat = " ".join(text.split())
        assert "Harbour Aesthetics" in flat
        assert "Your consent to clinical photographs" in flat
        assert "Photographs are part of your medical record" in flat
        assert "Joanne Whitfield" in flat and record.text_sha256 in flat
        assert re.search(r"Clinical record.{0,40}Yes", flat), flat
        assert re.search(r"Social media\s+Yes", flat), flat
        assert re.search(r"Clinic website\s+No", flat), flat
        withdraw_url = on_server(link_in(copy_mail, "withdraw"), server)
        withdraw_token = token_of(withdraw_url)

        # Meanwhile the practitioner puts the patient's photo in the library for social media.
        j.visit(f"/c/{clinic.slug}/photos/{photo.pk}/")
        page.get_by_label("Add to marketing library").select_option("social_media")
        j.follow(page.locator("form.marketing-add").get_by_role("button", name="Add"))
        expect(page.get_by_text("Added to the marketing library.")).to_be_visible()
        j.follow(
            page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Marketing")
        )
        library_item = page.locator(".marketing-grid .photo-card")
        expect(library_item).to_have_count(1)
        expect(library_item).to_contain_text("Social media")
        j.check("consent-marketing-library")
        # The patient page shows what is valid now, and the evidence of the signature.
        j.visit(patient_path)
        expect(
            consent_section.locator(".badges .badge--ok", has_text="Social media")
        ).to_be_visible()
        j.check("consent-patient-signed")
        j.follow(consent_section.get_by_role("link", name=re.compile("Signed by Joanne")))
        expect(page.get_by_text(record.text_sha256)).to_be_visible()
        signature_image = page.locator("img.signature-image")
        assert signature_image.evaluate("img => img.complete && img.naturalWidth") == width
        j.check("consent-record")
        j.visit(f"/c/{clinic.slug}/marketing/")

        # Later: the withdrawal link from the e-mail, one click on Social media.
        seen.loads = seen.clicks = 0
        p.visit(withdraw_url, "consent-withdraw")
        assert withdraw_token not in pp.url
        expect(pp.locator(".public-head")).to_contain_text("Harbour Aesthetics")
        click_target = pp.get_by_role("button", name="Withdraw Social media")
        withdraw_box = click_target.bounding_box()
        assert withdraw_box["height"] >= 44, withdraw_box
        seen.clicks += 1
        p.follow(click_target)
        expect(pp.locator(".public-messages")).to_contain_text("Withdrawn: Social media.")
        expect(pp.get_by_role("button", name="Withdraw Social media")).to_have_count(0)
        expect(pp.get_by_role("button", name="Withdraw Clinical record")).to_be_visible()
        p.check("consent-withdrawn")
        withdrawal_steps, withdrawal_loads = seen.steps(), seen.loads
        assert withdrawal_steps <= signing_steps, (withdrawal_steps, signing_steps)
        assert withdrawal_loads <= signing_loads, (withdrawal_loads, signing_loads)
        # Signing: 3 pages and 5 actions (continue, two ticks, draw, sign), typing aside;
        # withdrawing: 2 pages and 1 click.
        assert (signing_loads, signing_steps, withdrawal_loads, withdrawal_steps) == (3, 8, 2, 3)
        journey_requests = len(seen.requests)

        # The used signing link: a clear page, nothing changed.
        response = p.visit(sign_url, "consent-link-used")
        assert response.status == 410
        expect(pp.get_by_role("alert")).to_contain_text("already been signed")

    # The token was only ever in the first URL, and never in a Referer (not even from the
    # problem page that the used link, token in its URL, shows).
    for url, referer in seen.requests:
        assert sign_token not in referer and withdraw_token not in referer, (url, referer)
    requests = seen.requests[:journey_requests]
    assert requests and requests[0][0] == sign_url
    # The form posts and assets of the token-free pages do carry a Referer, so it is seen here.
    assert any(referer for _, referer in requests)
    assert [url for url, _ in requests if sign_token in url] == [sign_url]
    assert [url for url, _ in requests if withdraw_token in url] == [withdraw_url]

    # The withdrawal took effect at once: out of the library on reload, banner on the patient.
    page.reload()
    j._audited = False
    expect(page.locator(".marketing-grid .photo-card")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No photos in the library")
    j.check("consent-marketing-after-withdrawal")
    with clinic_context(clinic.id):
        item = MarketingItem.objects.get(photo=photo)
    assert item.removed_at and item.removed_reason == "consent withdrawn"
    j.visit(patient_path)
    banner = consent_section.locator(".notice", has_text="Consent withdrawn")
    expect(banner).to_contain_text("Social media")
    expect(consent_section.locator(".badges .badge--ok", has_text="Social media")).to_have_count(0)
    j.check("consent-patient-withdrawn")

    # The patient has a confirmation, the clinic's admin a notice.
    confirmation = inbox.wait_for(patient_email, "your consent withdrawal is recorded")
    assert "Social media" in text_of(confirmation)
    notice = inbox.wait_for(admin.email, "Consent withdrawn")
    assert "Joanne Whitfield" in text_of(notice)


# --- the problem pages --------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_wrong_date_of_birth_then_lockout(viewport, server, browser, inbox):
    clinic = f.make_clinic("Harbour Aesthetics")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient_email = f"{f.unique('leo')}@example.test"
    patient = f.make_patient(
        clinic, nurse, first_name="Leo", last_name="Marsh", date_of_birth=DOB, email=patient_email
    )
    with clinic_context(clinic.id):
        consent_services.request_send(clinic=clinic, patient=patient, by=nurse)
    sign_url = on_server(link_in(inbox.wait_for(patient_email, "your consent"), "sign"), server)

    with patient_browser(browser, server, viewport) as (p, _seen):
        pp = p.page
        p.visit(sign_url)
        for attempt in range(1, 5):
            fill_dob(pp, date(1987, 9, 24))
            p.follow(pp.get_by_role("button", name="Continue"))
            expect(pp.locator(".field__error")).to_contain_text(
                f"{5 - attempt} attempt{'s' if attempt != 4 else ''} left"
            )
            if attempt == 1:
                p.check("consent-identity-wrong")
        fill_dob(pp, date(1987, 9, 24))
        p.follow(pp.get_by_role("button", name="Continue"))
        expect(pp.get_by_role("alert")).to_contain_text("locked")
        p.check("consent-link-locked")
        # Even the right date of birth, from the link again, does not open it now.
        response = p.visit(sign_url)
        assert response.status == 403
    with clinic_context(clinic.id):
        consent_request = ConsentRequest.objects.get(patient=patient)
    assert consent_request.state == "locked" and consent_request.opened_at is None


def test_admin_edits_the_form_and_records_a_phone_withdrawal(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
    patient = f.make_patient(
        clinic, admin, first_name="Priya", last_name="Shah", email="priya@example.test"
    )
    f.make_signed_consent(
        clinic, patient, admin, uses=["clinical_record", "website", "social_media", "training"]
    )
    j.sign_in(admin.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(admin)))

    # The consent form editor: one version, edited into a second.
    j.follow(page.get_by_role("navigation", name="Clinic").get_by_role("link", name="Consent form"))
    expect(page.get_by_role("heading", name="Consent form", exact=True)).to_be_visible()
    j.check("consent-form-editor")
    page.get_by_label("Title").fill("Photographs at Harbour Aesthetics")
    j.submit("Save as version 2")
    expect(page.get_by_text("Saved as version 2.")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Version 1")
    check_state(j, "consent-form-editor-saved")

    # A withdrawal the patient asked for by phone.
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    j.follow(page.get_by_role("link", name="Record a withdrawal"))
    j.check("consent-record-withdrawal")
    page.get_by_label("Clinic website").check()
    page.get_by_label("How did the patient ask?").select_option("phone")
    page.get_by_label("Note (optional)").fill("Rang reception on Monday")
    j.submit("Record withdrawal")
    section = page.locator("#consent")
    expect(section.locator(".notice", has_text="Consent withdrawn")).to_contain_text(
        "by phone, recorded by Ada Admin"
    )
    expect(section.locator(".badges .badge--ok")).to_have_count(3)
    j.check("consent-patient-phone-withdrawal")
