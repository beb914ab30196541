"""Guided capture with Chromium's fake camera (issue 12, item 1): a five-view before sequence
from the patient page in one tap to start and one per view, each photo with the right view,
stage and episode; the after sequence shows each view's before as its ghost; a view retaken.
Phone (390x844) and desktop, axe and a screenshot of every step."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from clinic.models import Role
from photos.models import PhotoStatus
from tests import factories as f
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, Journey, watch_for_errors
from tests.browser.test_photo_journey import box, check_state, images_loaded, photos_of

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
FACE = ["front", "left_45", "left_90", "right_45", "right_90"]


def _ready(clinic, patient, stage):
    return [p for p in photos_of(clinic, patient) if p.stage == stage and p.deleted_at is None]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_five_view_before_and_after_sequences_with_a_retake(browser, server, viewport):
    clinic = f.make_clinic("Lakeside Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Maria", last_name="Lopez")
    episode = f.make_episode(clinic, patient, nurse, treatment_type="toxin", areas=["forehead"])
    session = f.verified_client(nurse).cookies[settings.SESSION_COOKIE_NAME].value
    camera_browser = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    )
    try:
        context = camera_browser.new_context(
            base_url=server.url, locale="en-GB", permissions=["camera"], **VIEWPORTS[viewport]
        )
        context.set_default_timeout(15_000)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
        )
        page = context.new_page()
        errors = watch_for_errors(page)
        j = Journey(page, server.url, viewport)
        taps = 0

        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/", "capture-patient")
        start = page.get_by_role("link", name="Take before photos")
        # At the top: visible on the first screen without scrolling, above the treatments.
        expect(start).to_be_in_viewport()
        assert start.bounding_box()["y"] < page.locator("#treatments-h").bounding_box()["y"]
        taps += 1
        j.follow(start)
        steps = page.locator(".capture__step")
        expect(steps).to_have_count(5)
        page.wait_for_function(
            "() => { const v = document.getElementById('capture-video');"
            " return v.readyState >= 2 && v.videoWidth > 0 && !v.paused; }"
        )
        shoot = page.locator("#capture-shoot")
        expect(shoot).to_be_enabled()
        check_state(j, "capture-before-start")
        for index, view in enumerate(FACE):
            expect(page.locator("#capture-view")).to_have_text(
                steps.nth(index).get_attribute("data-label")
            )
            expect(page.locator("#capture-counter")).to_have_text(f"View {index + 1} of 5")
            # The button is on screen with the frame: no scrolling between shots.
            expect(shoot).to_be_in_viewport(ratio=1)
            expect(page.locator("#capture-frame")).to_be_in_viewport(ratio=1)
            taps += 1
            shoot.click()
            expect(steps.nth(index)).to_have_class(
                re.compile("capture__step--done"), timeout=20_000
            )
            check_state(j, f"capture-before-{view}")
        expect(page.locator("#capture-view")).to_have_text("All views done")
        assert taps == 1 + 5, taps
        befores = _ready(clinic, patient, "before")
        assert sorted(p.view for p in befores) == sorted(FACE)
        assert all(p.episode_id == episode.pk and p.area == "forehead" for p in befores)
        assert all(p.status == PhotoStatus.READY for p in befores), [p.status for p in befores]
        # The frame's crop: each photo has the frame's portrait shape (3:4 without a ghost).
        assert all(abs(p.width / p.height - 0.75) < 0.02 for p in befores), [
            (p.width, p.height) for p in befores
        ]

        # The after sequence: every view shows its before as the ghost, in the camera's frame.
        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
        j.follow(page.get_by_role("link", name="Take after photos"))
        page.wait_for_function(
            "() => { const v = document.getElementById('capture-video');"
            " return v.readyState >= 2 && v.videoWidth > 0 && !v.paused; }"
        )
        ghost = page.locator("#capture-ghost")
        video = page.locator("#capture-video")
        by_view = {p.view: p for p in befores}
        for index, view in enumerate(FACE):
            expect(ghost).to_be_visible()
            assert f"/photos/{by_view[view].pk}/display/" in ghost.get_attribute("src")
            assert images_loaded(ghost)[0] > 0
            assert box(video) == box(ghost)  # the same frame: lining up is exact
            check_state(j, f"capture-after-{view}")
            shoot.click()
            expect(steps.nth(index)).to_have_class(
                re.compile("capture__step--done"), timeout=20_000
            )
        afters = _ready(clinic, patient, "after")
        assert sorted(p.view for p in afters) == sorted(FACE)

        # Retake the left 45: tap its step, take it again; the earlier shot is replaced.
        earlier = next(p for p in afters if p.view == "left_45")
        steps.nth(1).locator("button").click()
        expect(page.locator("#capture-view")).to_have_text("Left 45° (retake)")
        expect(shoot).to_have_text("Retake photo")
        check_state(j, "capture-retake")
        shoot.click()
        page.wait_for_function(
            f"() => document.querySelectorAll('.capture__step')[1].dataset.photo !== '{earlier.pk}'"
            " && document.querySelectorAll('.capture__step')[1]"
            ".classList.contains('capture__step--done')",
            timeout=20_000,
        )
        check_state(j, "capture-retaken")
        afters = _ready(clinic, patient, "after")
        assert sorted(p.view for p in afters) == sorted(FACE)
        assert earlier.pk not in {p.pk for p in afters}

        # Skip: a new sequence for follow-up, skip the front, take the next.
        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/photos/capture/?stage=follow_up")
        page.wait_for_function("() => document.getElementById('capture-video').videoWidth > 0")
        page.get_by_role("button", name="Skip this view").click()
        expect(steps.nth(0)).to_have_class(re.compile("capture__step--skipped"))
        expect(page.locator("#capture-view")).to_have_text(steps.nth(1).get_attribute("data-label"))
        check_state(j, "capture-skipped")
        # The guide chosen by hand from the strip of earlier photos of the area.
        page.get_by_text("Use another earlier photo as the guide").click()
        strip = page.locator(".capture__strip-button")
        expect(strip.first).to_be_visible()
        # Thumbnails load only once the strip is opened (each view of one is audited).
        assert all(images_loaded(strip.locator("img")))
        chosen = strip.filter(has_text="Right 90°").first
        chosen.click()
        expect(ghost).to_have_attribute("src", chosen.get_attribute("data-ghost"))
        expect(page.locator("#capture-ghost-label")).to_contain_text("Guide:")
        check_state(j, "capture-ghost-from-strip")
        context.close()
    finally:
        camera_browser.close()
    assert not errors, errors
    assert not j.problems, "\n".join(j.problems)
