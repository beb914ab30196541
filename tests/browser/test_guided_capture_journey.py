"""Guided capture with Chromium's fake camera (issue 12, item 1): a five-view before sequence
from the patient page in one tap to start and one per view, each photo with the right view,
stage and episode; the after sequence shows each view's before as its ghost; a view retaken.
Phone (390x844) and desktop, axe and a screenshot of every step."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.conf import settings
from PIL import ImageFilter
from playwright.sync_api import expect

from clinic.models import Role
from photos.models import PhotoStatus
from tests import factories as f
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, Journey, watch_for_errors
from tests.browser.test_photo_journey import box, check_state, images_loaded, photos_of
from tests.photos import images

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
        expect(page.locator("#capture")).to_have_attribute("data-ready", "stills")
        # What the camera says its largest photo is, asked the way the page asks it.
        largest = page.evaluate(
            "async () => { const t = document.getElementById('capture-video').srcObject"
            ".getVideoTracks()[0]; const c = await new ImageCapture(t).getPhotoCapabilities();"
            " return [c.imageWidth.max, c.imageHeight.max]; }"
        )
        frame_box = page.locator("#capture-frame").bounding_box()
        preview = (frame_box["width"], frame_box["height"])
        expect(page.locator("#capture-mode")).to_contain_text(
            f"full size: {largest[0]}×{largest[1]}"
        )
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
        # The shutter cannot be used now, looks it and says why.
        expect(shoot).to_be_disabled()
        expect(page.locator("#capture-shoot-why")).to_have_text(
            "Every view is taken or skipped: tap a view above to take it again."
        )
        assert shoot.evaluate("b => getComputedStyle(b).cursor") == "not-allowed"
        assert taps == 1 + 5, taps
        befores = _ready(clinic, patient, "before")
        assert sorted(p.view for p in befores) == sorted(FACE)
        assert all(p.episode_id == episode.pk and p.area == "forehead" for p in befores)
        assert all(p.status == PhotoStatus.READY for p in befores), [p.status for p in befores]
        # Stills, not video frames: each original has the camera's largest photo size, not the
        # preview frame's shape (3:4 portrait here), and the page said the size it got.
        assert all([p.width, p.height] == largest for p in befores), (
            largest,
            [(p.width, p.height) for p in befores],
        )
        assert abs(preview[0] / preview[1] - largest[0] / largest[1]) > 0.1, (preview, largest)
        assert all(p.original_mime == "image/png" for p in befores)  # the fake camera's own PNG
        expect(page.locator("#capture-status")).to_contain_text(f"{largest[0]}×{largest[1]}")
        expect(page.locator("#capture-last")).to_be_visible()

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
        # From the foot of the page: tapping the chip brings the shutter back on screen.
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        steps.nth(1).locator("button").click()
        expect(page.locator("#capture-view")).to_have_text("Left 45° (retake)")
        expect(shoot).to_be_in_viewport(ratio=1)
        expect(page.locator("#capture-frame")).to_be_in_viewport()
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


def _camera_page(browser, server, nurse, viewport, *, without_image_capture=False):
    """A Chromium with the fake camera, signed in as the nurse; optionally one without
    ImageCapture (as Safari and Firefox are), where the camera app takes the photo."""
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
    context = camera_browser.new_context(
        base_url=server.url, locale="en-GB", permissions=["camera"], **VIEWPORTS[viewport]
    )
    context.set_default_timeout(15_000)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
    )
    if without_image_capture:
        context.add_init_script("delete window.ImageCapture;")
    return camera_browser, context.new_page()


def test_without_image_capture_the_camera_app_takes_the_whole_photo(browser, server):
    """The hand-off: the shutter opens the device's camera app (a file input with capture); the
    stored original is that app's file byte for byte, its size said on the page; a dark shot is
    offered a retake, which brings the shutter back on screen for that view. The aids: guide
    strength, the thirds grid, the level from the motion sensor."""
    clinic = f.make_clinic("Harbour Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nia Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Ana", last_name="Silva")
    f.make_episode(clinic, patient, nurse, treatment_type="toxin", areas=["forehead"])
    camera_browser, page = _camera_page(browser, server, nurse, "phone", without_image_capture=True)
    try:
        errors = watch_for_errors(page)
        j = Journey(page, server.url, "phone")
        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/photos/capture/?stage=before")
        root = page.locator("#capture")
        expect(root).to_have_attribute("data-ready", "hand-off")
        expect(page.locator("#capture-mode")).to_contain_text("opens the camera app")
        shoot = page.locator("#capture-shoot")
        expect(shoot).to_be_enabled()
        check_state(j, "capture-hand-off-start")

        sharp = images.phone_jpeg(1600, 1200, orientation=1)
        with page.expect_file_chooser() as chooser:
            shoot.click()
        chooser.value.set_files(
            files=[{"name": "IMG_0001.JPG", "mimeType": "image/jpeg", "buffer": sharp}]
        )
        steps = page.locator(".capture__step")
        expect(steps.nth(0)).to_have_class(re.compile("capture__step--done"), timeout=20_000)
        expect(page.locator("#capture-status")).to_have_text(
            "Front: 1600×1200 (1.9 MP), sharp and well exposed."
        )
        expect(page.locator("#capture-retake")).to_be_hidden()
        (stored,) = _ready(clinic, patient, "before")
        assert (stored.width, stored.height) == (1600, 1200)
        assert stored.original_sha256 == hashlib.sha256(sharp).hexdigest()  # the app's own bytes

        # A dark shot of the next view: the check offers a retake of that view.
        dark = images.encode(
            images.photo_like(900, 1200).point(lambda v: int(v * 0.15)), "JPEG", quality=90
        )
        with page.expect_file_chooser() as chooser:
            shoot.click()
        chooser.value.set_files(
            files=[{"name": "dark.jpg", "mimeType": "image/jpeg", "buffer": dark}]
        )
        retake = page.locator("#capture-retake")
        expect(retake).to_be_visible()
        expect(retake).to_have_text("Retake Left 45°?")
        expect(page.locator("#capture-status")).to_contain_text("It looks dark")
        expect(steps.nth(1)).to_have_class(re.compile("capture__step--done"), timeout=20_000)
        check_state(j, "capture-hand-off-dark")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        retake.click()
        expect(page.locator("#capture-view")).to_have_text("Left 45° (retake)")
        expect(shoot).to_be_in_viewport()

        # A blurred (well-lit) shot is called blurred.
        blurred = images.encode(
            images.photo_like(900, 1200).filter(ImageFilter.GaussianBlur(10)), "JPEG", quality=90
        )
        with page.expect_file_chooser() as chooser:
            shoot.click()
        chooser.value.set_files(
            files=[{"name": "b.jpg", "mimeType": "image/jpeg", "buffer": blurred}]
        )
        expect(page.locator("#capture-status")).to_contain_text("It looks blurred")

        # The aids: guide strength, the grid on and off, the level once a sensor speaks.
        page.locator("#capture-opacity").fill("80")
        expect(page.locator("#capture-ghost")).to_have_css("opacity", "0.8")
        grid = page.locator("#capture-grid")
        expect(grid).to_be_visible()
        page.get_by_label("Thirds grid and centre line").uncheck()
        expect(grid).to_be_hidden()
        page.get_by_label("Thirds grid and centre line").check()
        level = page.locator("#capture-level")
        expect(level).to_be_hidden()  # no sensor has spoken: no level
        tilt = (
            "([x, y]) => window.dispatchEvent(new DeviceMotionEvent('devicemotion',"
            " {accelerationIncludingGravity: {x, y, z: 0}}))"
        )
        page.evaluate(tilt, [0.0, 9.81])
        expect(level).to_be_visible()
        expect(page.locator("#capture-level-text")).to_have_text("Level")
        page.evaluate(tilt, [1.7, 9.66])  # 10 degrees
        expect(page.locator("#capture-level-text")).to_have_text(re.compile(r"Tilted 10° "))
        check_state(j, "capture-aids")
    finally:
        camera_browser.close()
    assert not errors, errors
    assert not j.problems, "\n".join(j.problems)
