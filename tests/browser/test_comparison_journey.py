"""Comparisons in a real browser, desktop and phone: presentation mode in one tap from the
patient page and its wipe slider; a suggested pair with its proposed alignment, nudged by
button, key and drag and reset; a pair of different views with its warning; the worker's PDF,
rendered to PNG to be looked at; the comparison e-mailed through a real SMTP server; the
patient on their own browser confirming the date of birth and wiping by touch; and the
practitioner revoking the link so it no longer opens."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from tests import factories as f
from tests.browser.conftest import fresh_code, on_server
from tests.browser.test_consent_journey import (
    fill_dob,
    inbox,  # noqa: F401 (a fixture)
    patient_browser,
    pdf_text,
    token_of,
)
from tests.comparisons.images import jpeg, moved, textured_face

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DOB = date(1979, 6, 2)


def check_state(j, name: str) -> None:
    j._audited = False
    j.check(name)


def touch_drag(page, locator, start: float, end: float) -> None:
    """A finger dragged across ``locator`` from ``start`` to ``end`` (fractions of its width),
    as real touch events through the DevTools protocol."""
    box = locator.bounding_box()
    y = box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)

    def send(kind, x=None):
        points = [] if x is None else [{"x": box["x"] + box["width"] * x, "y": y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    send("touchStart", start)
    for step in range(1, 11):
        send("touchMove", start + (end - start) * step / 10)
    send("touchEnd")
    cdp.detach()


def test_practitioner_compares_presents_and_shares_and_the_patient_sees_it(
    journey,
    server,
    browser,
    inbox,  # noqa: F811
):
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    email = f"{f.unique('amira')}@example.test"
    patient = f.make_patient(
        clinic, nurse, first_name="Amira", last_name="Khan", date_of_birth=DOB, email=email
    )
    episode = f.make_episode(
        clinic, patient, nurse, areas=["forehead"], product="Azzalure", batch_number="AZ-2291"
    )
    face = textured_face(600, 800)
    after_face, _ = moved(face, scale=1 / 1.15, degrees=7, shift=(18, -12))
    start = timezone.now() - timedelta(days=20)
    common = {"area": "forehead"}
    before = f.make_ready_photo(
        clinic,
        patient,
        episode,
        nurse,
        data=jpeg(face),
        stage="before",
        view="front",
        taken_at=start,
        **common,
    )
    f.make_ready_photo(
        clinic,
        patient,
        episode,
        nurse,
        data=jpeg(after_face),
        stage="after",
        view="front",
        taken_at=start + timedelta(days=14),
        **common,
    )
    side = f.make_ready_photo(
        clinic,
        patient,
        episode,
        nurse,
        data=jpeg(after_face),
        stage="after",
        view="left_45",
        taken_at=start + timedelta(days=14, hours=1),
        **common,
    )
    f.make_signed_consent(clinic, patient, nurse)
    patient_path = f"/c/{clinic.slug}/patients/{patient.pk}/"

    j.sign_in(nurse.email, f.PASSWORD)
    j.enter_code(fresh_code(AuthenticatorDevice.objects.get(user=nurse, confirmed=True)))
    j.visit(patient_path, "comparison-patient-page")

    # One tap from the patient page into presentation mode; nothing but the photos.
    j.follow(page.get_by_role("link", name="Show to patient"))
    expect(page.locator('[data-role="before-label"]')).to_contain_text("Before")
    assert "Khan" not in page.content() and "SHA" not in page.content()
    j.check("comparison-present-side")
    # The wheel zooms both photos together (and the next key press would change pairs).
    stage = page.locator("#present").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.wheel(0, -100)
    zooms = page.locator(".present__side .present__img").evaluate_all(
        "images => images.map(i => i.style.transform)"
    )
    assert zooms == ["scale(1.1)", "scale(1.1)"], zooms
    page.mouse.wheel(0, 100)
    page.get_by_role("button", name="Wipe").click()
    wipe = page.locator(".present__wipe [data-wipe]")
    expect(wipe).to_be_visible()
    slider = page.get_by_label("Before ← → After")
    slider.focus()
    for _ in range(5):
        slider.press("ArrowLeft")
    clip = page.locator(".wipe__top").evaluate("e => e.style.clipPath")
    assert clip.startswith("inset(0px 0px 0px 4") or clip.startswith("inset(0 0 0 4"), clip
    check_state(j, "comparison-present-wipe")

    # A suggested pair: the proposed alignment, nudged three ways, then reset.
    j.visit(patient_path)
    j.follow(page.get_by_role("link", name="Compare photos"))
    j.check("comparison-new")
    j.follow(page.locator(".pair-list__item").first.get_by_role("button"))
    readout = page.locator("#transform-readout")
    expect(readout).to_contain_text("Scale ×1.1")
    expect(page.locator("#warnings")).to_contain_text("Rotation")
    proposed = readout.text_content()
    j.check("comparison-detail-proposed")
    page.get_by_role("button", name="Move right").click()
    page.get_by_role("button", name="Rotate clockwise").click()
    frame = page.locator("#frame-after")
    frame.focus()
    frame.press("ArrowDown")
    box = frame.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 20, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    nudged = readout.text_content()
    assert nudged != proposed
    page.get_by_role("button", name="Reset to proposal").click()
    assert readout.text_content() == proposed
    page.get_by_role("button", name="Move right").click()

    # The worker makes the image and PDF; the page shows it without a reload.
    j.submit("Make image and PDF")
    expect(page.locator("#render-state")).to_have_text("Ready.", timeout=30_000)
    check_state(j, "comparison-detail-ready")
    pdf = page.request.get(page.locator("#pdf-link").get_attribute("href"))
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    text = pdf_text(pdf.body(), keep_as=f"comparison-pdf-{j.viewport}")
    assert "A.K." in text and "Azzalure" in text and "AZ-2291" in text
    assert before.original_sha256 in text and "adjusted by hand" in text
    detail_url = page.url

    # Any two photos: a different view is warned about, and still made.
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/comparisons/new/")
    page.get_by_label("Before").select_option(str(before.pk))
    page.get_by_label("After").select_option(str(side.pk))
    j.submit("Compare these two")
    expect(page.locator("#warnings")).to_contain_text("Different view: the before is Front")
    j.check("comparison-detail-view-warning")

    # Share the first one; it travels by SMTP.
    j.visit(detail_url)
    j.submit("E-mail it to the patient")
    expect(page.locator("#share .badge")).to_have_text("sent")
    j.check("comparison-shared-staff")
    message = inbox.wait_for(email, "your before and after photos")
    body = message.get_body(preferencelist=("plain",)).get_content()
    (link,) = re.findall(r"https?://\S+/p/[\w-]+/photos/[\w-]+/", body)
    link = on_server(link, server)
    token = token_of(link)

    with patient_browser(browser, server, j.viewport) as (p, seen):
        pp = p.page
        p.visit(link, "comparison-patient-identity")
        assert token not in pp.url
        fill_dob(pp, DOB)
        p.follow(pp.get_by_role("button", name="Show my photos"))
        expect(pp.get_by_role("heading", name="Your before and after photos")).to_be_visible()
        shared = pp.locator("[data-wipe]")
        expect(shared.locator(".wipe__after")).to_be_attached()
        pp.wait_for_function("document.querySelector('.wipe__after').style.width !== ''")
        if j.viewport == "phone":
            touch_drag(pp, shared, 0.5, 0.2)
        else:
            b = shared.bounding_box()
            pp.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] / 2)
            pp.mouse.down()
            pp.mouse.move(b["x"] + b["width"] * 0.2, b["y"] + b["height"] / 2, steps=5)
            pp.mouse.up()
        value = int(pp.get_by_label("Before ← → After").input_value())
        assert 15 <= value <= 25, value
        p.check("comparison-patient-shared")
        pdf_link = pp.get_by_role("link", name="Download the PDF").get_attribute("href")
        assert pp.request.get(pdf_link).body().startswith(b"%PDF")
        for url, referer in seen.requests[1:]:
            assert token not in url and token not in referer

        # The practitioner revokes; the patient's next look is refused, clearly.
        j.visit(detail_url)
        j.follow(page.locator("#share").get_by_role("button", name=re.compile("^Revoke")))
        check_state(j, "comparison-revoked-staff")
        expect(page.locator("#share .badge")).to_have_text("revoked")
        p.visit(pp.url, "comparison-patient-revoked")
        expect(pp.get_by_text("This link has been withdrawn")).to_be_visible()


def pinch(page, locator, spread: float) -> None:
    """Two fingers on ``locator`` moving apart (spread > 1) or together, as real touch events."""
    box = locator.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)

    def send(kind, gap=None):
        points = (
            []
            if gap is None
            else [{"x": cx - gap, "y": cy, "id": 1}, {"x": cx + gap, "y": cy, "id": 2}]
        )
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    start = 40.0
    send("touchStart", start)
    for step in range(1, 11):
        send("touchMove", start * (1 + (spread - 1) * step / 10))
    send("touchEnd")
    cdp.detach()


def test_presentation_zooms_both_photos_and_moves_between_pairs_by_key_swipe_and_pinch(
    journey, server
):
    """Two pairs (forehead and lips): on a phone two fingers zoom both photos together and one
    finger swipes to the next pair; on a desktop the arrow keys do the same."""
    j, page = journey, journey.page
    clinic = f.make_clinic("Harbour Aesthetics")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Lena", last_name="Ortiz")
    start = timezone.now() - timedelta(days=30)
    for n, area in enumerate(("forehead", "lips")):
        episode = f.make_episode(clinic, patient, nurse, areas=[area])
        face = textured_face(600, 800, seed=7 + n)
        after_face, _ = moved(face, scale=1 / 1.1, degrees=4, shift=(10, -6))
        for stage, data, days in (("before", face, 0), ("after", after_face, 14)):
            f.make_ready_photo(
                clinic,
                patient,
                episode,
                nurse,
                data=jpeg(data),
                stage=stage,
                view="front",
                area=area,
                taken_at=start + timedelta(days=days + n),
            )
    j.sign_in(nurse.email, f.PASSWORD)
    j.enter_code(fresh_code(AuthenticatorDevice.objects.get(user=nurse, confirmed=True)))
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    j.follow(page.get_by_role("link", name="Show to patient"))
    index = page.locator('[data-role="index"]')
    first_label = page.locator('[data-role="before-label"]').text_content()
    expect(index).to_have_text("1")
    expect(page.locator('[data-role="title"]')).to_have_text("Lips, front")
    images = page.locator(".present__side .present__img")
    stage = page.locator("#present")
    if j.viewport == "phone":
        pinch(page, stage, 2.0)
        zooms = images.evaluate_all("imgs => imgs.map(i => i.style.transform)")
        scales = [float(re.search(r"scale\(([\d.]+)\)", z).group(1)) for z in zooms]
        assert len(scales) == 2 and scales[0] == scales[1] > 1.5, zooms
        check_state(j, "comparison-present-pinched")
        pinch(page, stage, 0.25)  # back to whole photos (zoom never goes below 1)
        assert images.evaluate_all("imgs => imgs.map(i => i.style.transform)") == [
            "scale(1)",
            "scale(1)",
        ]
        touch_drag(page, stage, 0.8, 0.2)  # one finger, right to left: the next pair
        expect(index).to_have_text("2")
        touch_drag(page, stage, 0.2, 0.8)
        expect(index).to_have_text("1")
    else:
        page.keyboard.press("ArrowRight")
        expect(index).to_have_text("2")
        page.keyboard.press("ArrowLeft")
        expect(index).to_have_text("1")
        page.keyboard.press("+")
        assert images.evaluate_all("imgs => imgs.map(i => i.style.transform)") == [
            "scale(1.25)",
            "scale(1.25)",
        ]
    if j.viewport == "desktop":
        page.keyboard.press("ArrowRight")
    else:
        touch_drag(page, stage, 0.8, 0.2)
    expect(index).to_have_text("2")
    assert page.locator('[data-role="before-label"]').text_content() != first_label
    # Latest pair first, each named by its area and view.
    expect(page.locator('[data-role="title"]')).to_have_text("Forehead, front")
    check_state(j, "comparison-present-second-pair")
