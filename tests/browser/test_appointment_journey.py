"""The appointment tried as a nurse would (issue 12): five photos of five views sent at once,
each with its own view; a wrongly filed photo corrected from the grid; the phone's tab bar.
Desktop and phone; axe and a screenshot at every step."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from clinic.models import Role
from tests import factories as f
from tests.browser.conftest import fresh_code
from tests.browser.test_photo_journey import _file, _jpeg, check_state, device_of, photos_of

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
FIVE_VIEWS = ["front", "left_45", "left_90", "right_45", "right_90"]


def test_five_files_five_views_then_a_correction_from_the_grid(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Lakeside Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(
        clinic,
        nurse,
        first_name="Maria",
        last_name="Lopez",
        email="maria.lopez-hernandez@a-rather-long-mail-domain.example",
    )
    episode = f.make_episode(
        clinic,
        patient,
        nurse,
        treatment_type="filler",
        areas=["lips"],
        performed_on=date(2026, 1, 10),
    )

    j.sign_in(nurse.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(nurse)))

    # Every tab of the clinic bar is on screen, at either size (on a phone the bar wraps).
    width = page.viewport_size["width"]
    tabs = page.locator("nav.tabs a")
    assert tabs.count() >= 2
    for index in range(tabs.count()):
        b = tabs.nth(index).bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, tabs.nth(index).inner_text()
    j.check("appointment-dashboard")

    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    # The long address wraps at its joints rather than pushing the page sideways.
    email = page.locator(".facts .email")
    assert email.bounding_box()["x"] + email.bounding_box()["width"] <= width
    j.follow(page.get_by_role("link", name="+ Add photos"))
    # "Drag photos here" only where a mouse can drag.
    if j.viewport == "desktop":
        expect(page.locator("#drag-hint")).to_be_visible()
    else:
        expect(page.locator("#drag-hint")).to_be_hidden()
    page.get_by_label("Treatment").select_option(str(episode.pk))
    page.get_by_label("Facial area").select_option("lips")
    page.locator("#file-input").set_input_files(
        [_file(f"{view}.jpg", "image/jpeg", _jpeg()) for view in FIVE_VIEWS]
    )
    items = page.locator(".uploads__item")
    expect(items).to_have_count(5)
    # Each file starts as the form says: before, lips, front.
    for index in range(5):
        item = items.nth(index)
        expect(item.get_by_label(re.compile("^Stage"))).to_have_value("before")
        expect(item.get_by_label(re.compile("^Facial area"))).to_have_value("lips")
        expect(item.get_by_label(re.compile("^View"))).to_have_value("front")
    check_state(j, "appointment-five-files-chosen")
    # One choice per file that is not a front view (four taps' worth).
    for index, view in enumerate(FIVE_VIEWS[1:], start=1):
        items.nth(index).get_by_label(re.compile("^View")).select_option(view)
    check_state(j, "appointment-five-views-set")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-summary")).to_contain_text("5 of 5 uploaded.", timeout=30_000)
    check_state(j, "appointment-five-uploaded")
    stored = {
        p.original_name: (p.view, p.stage, p.area, p.episode_id) for p in photos_of(clinic, patient)
    }
    assert stored == {f"{v}.jpg": (v, "before", "lips", episode.pk) for v in FIVE_VIEWS}

    # One was really an "after": correct it from the grid.
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/?layout=grid#photos")
    cards = page.locator("#photos .photo-card")
    expect(cards).to_have_count(5)
    check_state(j, "appointment-grid")
    j.follow(
        cards.filter(has_text="Left 45°").get_by_role("link", name=re.compile("Correct details"))
    )
    form = page.locator("#correct")
    expect(form.get_by_label("Stage")).to_be_visible()
    check_state(j, "appointment-correct-form")
    form.get_by_label("Stage").select_option("after")
    j.follow(form.get_by_role("button", name="Save correction"))
    expect(page.get_by_text("Photo details corrected")).to_be_visible()
    j.check("appointment-corrected")
    corrected = [p for p in photos_of(clinic, patient) if p.original_name == "left_45.jpg"][0]
    assert (corrected.stage, corrected.view) == ("after", "left_45")


def test_every_tab_of_an_admin_is_on_a_phone_screen_without_scrolling(browser, server):
    """The clinic bar wraps on a phone (static/css/app.css) rather than scrolling sideways, so
    the active tab and every other one are always in view: nothing to discover by swiping."""
    from django.conf import settings

    from tests.browser.conftest import VIEWPORTS, Journey

    clinic = f.make_clinic("Lakeside Skin")
    admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
    session = f.verified_client(admin).cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(base_url=server.url, locale="en-GB", **VIEWPORTS["phone"])
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
    )
    page = context.new_page()
    j = Journey(page, server.url, "phone")
    try:
        for path, active in (
            (f"/c/{clinic.slug}/staff/", "Staff"),
            (f"/c/{clinic.slug}/settings/", "Settings"),
        ):
            j.visit(path, f"appointment-admin-tabs-{active.lower()}")
            tabs = page.locator("nav.tabs a")
            assert tabs.count() == 9, tabs.all_inner_texts()  # audit log and retention among them
            for index in range(tabs.count()):
                expect(tabs.nth(index)).to_be_in_viewport(ratio=1)
            expect(page.locator('nav.tabs a[aria-current="page"]')).to_have_text(active)
            nav = page.locator("nav.tabs")
            assert nav.evaluate("n => n.scrollWidth <= n.clientWidth")
    finally:
        context.close()
    assert not j.problems, "\n".join(j.problems)
