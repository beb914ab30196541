"""Photos in a real browser: upload three formats at once, see progress then thumbnails, find
them again, line up an after photo with the ghost of the before, and keep them from people who
must not see them. Desktop and phone; axe and a screenshot at every step (see conftest.py)."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from unittest import mock

import pytest
from django.conf import settings
from playwright.sync_api import expect

from clinic.models import AuthenticatorDevice, Role
from clinic.tenancy import clinic_context
from photos import services as photo_services
from photos.models import Photo, PhotoStatus
from tests import factories as f
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORTS,
    Journey,
    fresh_code,
    watch_for_errors,
)
from tests.photos import images

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


# --- synthetic photos, built once per test run ---------------------------------------------


@cache
def _jpeg() -> bytes:
    return images.encode(images.photo_like(900, 1200, grain=12), "JPEG", quality=85)


@cache
def _png() -> bytes:
    image = images.photo_like(960, 720, grain=0).rotate(180)
    return images.encode(image, "PNG", optimize=False, compress_level=1)


@cache
def _heic() -> bytes:
    return images.heic(
        images.photo_like(800, 1000, grain=8).transpose(images.Image.Transpose.FLIP_LEFT_RIGHT)
    )


@cache
def _after_jpeg() -> bytes:
    image = images.photo_like(900, 1200, grain=12).rotate(2, expand=False)
    return images.encode(image, "JPEG", quality=85)


def _file(name: str, mime: str, data: bytes) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


# --- helpers --------------------------------------------------------------------------------


def device_of(user) -> AuthenticatorDevice:
    return AuthenticatorDevice.objects.get(user=user, confirmed=True)


def check_state(j: Journey, name: str) -> None:
    """Screenshot and audit a new state of the same page (the journey audits a page once)."""
    j._audited = False
    j.check(name)


def images_loaded(locator) -> list[int]:
    """naturalWidth of each matched <img> once it has finished loading (0 means broken)."""
    locator.first.scroll_into_view_if_needed()
    return locator.evaluate_all(
        "imgs => Promise.all(imgs.map(img => { img.loading = 'eager';"
        " return img.complete ? img.naturalWidth : new Promise(ok => {"
        " img.addEventListener('load', () => ok(img.naturalWidth));"
        " img.addEventListener('error', () => ok(0)); }); }))"
    )


def box(locator) -> tuple[int, int, int, int]:
    b = locator.bounding_box()
    return (round(b["x"]), round(b["y"]), round(b["width"]), round(b["height"]))


def photos_of(clinic, patient) -> list[Photo]:
    with clinic_context(clinic.id):
        return list(Photo.objects.filter(patient=patient).order_by("uploaded_at"))


def photo_paths(clinic_slug: str, photo: Photo) -> dict[str, str]:
    base = f"/c/{clinic_slug}/photos/{photo.pk}/"
    return {
        "detail": base,
        "thumb": base + "thumb/",
        "display": base + "display/",
        "original": base + "original/",
    }


# --- the practitioner's journey -----------------------------------------------------------


def test_practitioner_uploads_finds_and_lines_up_photos(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Lakeside Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Maria", last_name="Lopez")
    earlier = f.make_episode(
        clinic, patient, nurse, areas=["forehead"], performed_on=date(2025, 6, 2)
    )
    episode = f.make_episode(
        clinic,
        patient,
        nurse,
        treatment_type="filler",
        areas=["lips", "nasolabial"],
        performed_on=date(2026, 1, 10),
    )
    # An older forehead photo, so that filtering by area has something to leave out.
    f.make_ready_photo(clinic, patient, earlier, nurse, area="forehead", data=_jpeg())

    # Sign in with password and authenticator code, then find the patient.
    j.sign_in(nurse.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(nurse)))
    expect(page).to_have_url(re.compile(rf"/c/{clinic.slug}/$"))
    search = page.locator("#dash-search")
    search.fill("lopez")
    with page.expect_navigation():
        search.press("Enter")
    j.audit()
    j.follow(page.get_by_role("link", name=re.compile("Lopez, Maria")))
    expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    j.check("photos-patient-before-upload")

    # Add photos: the details, then a JPEG, a PNG and an iPhone HEIC chosen at once, and a PDF
    # that came along by mistake (refused in the page; the server decides by content anyway).
    j.follow(page.get_by_role("link", name="+ Add photos"))
    expect(page.get_by_role("heading", name="Add photos")).to_be_visible()
    j.check("photos-upload")
    page.get_by_label("Treatment").select_option(str(episode.pk))
    page.get_by_label("Stage").select_option("before")
    page.get_by_label("Facial area").select_option("lips")
    page.get_by_role("combobox", name="View", exact=True).select_option("front")
    # A damaged JPEG (a reason, never a broken picture) and a photo chosen by mistake, which
    # is dropped from the queue before anything is sent.
    page.locator("#file-input").set_input_files(
        [
            _file("lips-front.jpg", "image/jpeg", _jpeg()),
            _file("lips-front.png", "image/png", _png()),
            _file("IMG_0042.HEIC", "image/heic", _heic()),
            _file("referral.pdf", "application/pdf", images.minimal_pdf()),
            _file("damaged.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"not a picture" * 40),
            _file("other-patient.jpg", "image/jpeg", _jpeg()),
        ]
    )
    items = page.locator(".uploads__item")
    expect(items).to_have_count(6)
    expect(items.locator("progress")).to_have_count(6)
    expect(page.locator("#upload-summary")).to_have_text("6 photos ready to upload.")
    # No ghost for a "before" photo.
    expect(page.locator("#ghost")).to_be_hidden()
    page.get_by_role("button", name="Remove other-patient.jpg from the upload").click()
    expect(items).to_have_count(5)
    expect(page.locator("#upload-summary")).to_have_text("5 photos ready to upload.")
    damaged = items.nth(4)
    expect(damaged.locator(".uploads__pic--bad")).to_have_text("✕")
    check_state(j, "photos-upload-chosen")

    j.expected_errors.append(r"^400 .*/photos/add/$")  # the damaged JPEG, refused by the server
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-summary")).to_contain_text("3 of 5 uploaded.", timeout=30_000)
    expect(page.locator(".uploads__item--ok")).to_have_count(3)
    expect(page.locator("#upload-why")).to_be_hidden()
    expect(page.locator(".uploads__remove:visible")).to_have_count(0)
    for index in range(3):
        expect(items.nth(index).locator("progress")).to_have_js_property("value", 100)
        expect(items.nth(index).locator(".uploads__message")).to_have_text(
            "Uploaded and stored encrypted"
        )
    refused = items.nth(3)
    expect(refused).to_have_class(re.compile("uploads__item--error"))
    expect(refused.locator(".uploads__message")).to_contain_text("not a photo")
    expect(damaged).to_have_class(re.compile("uploads__item--error"))
    expect(damaged.locator(".uploads__message")).to_contain_text("damaged.jpg")
    assert damaged.locator("img").count() == 0  # its badge and reason, no broken image
    check_state(j, "photos-upload-done")

    # The live server thread processed them once the request's transaction committed.
    uploaded = [p for p in photos_of(clinic, patient) if p.episode_id == episode.pk]
    assert [p.original_mime for p in uploaded] == ["image/jpeg", "image/png", "image/heic"]
    assert all(p.status == PhotoStatus.READY for p in uploaded), [p.status for p in uploaded]

    # The patient's record: thumbnails grouped by treatment, newest treatment first.
    j.follow(page.get_by_role("link", name=re.compile("See them on the patient")))
    expect(page).to_have_url(re.compile(r"#photos$"))
    cards = page.locator("#photos .photo-card")
    expect(cards).to_have_count(4)
    assert all(images_loaded(cards.locator("img")))
    groups = page.locator("#photos .photo-group")
    expect(groups).to_have_count(2)
    expect(groups.first).to_have_text("Dermal filler · 10 Jan 2026")
    j.check("photos-patient-timeline")

    # Grid layout, then only the lips.
    photos_section = page.locator("#photos")
    photos_section.get_by_label("Layout").select_option("grid")
    j.follow(photos_section.get_by_role("button", name="Show"))
    expect(page.locator("#photos .photo-group")).to_have_count(0)
    expect(cards).to_have_count(4)
    j.check("photos-patient-grid")
    photos_section.get_by_label("Area").select_option("lips")
    j.follow(photos_section.get_by_role("button", name="Show"))
    expect(cards).to_have_count(3)
    expect(cards.filter(has_text="Forehead")).to_have_count(0)
    expect(photos_section.get_by_role("status")).to_contain_text("3 photos match these filters.")
    assert all(images_loaded(cards.locator("img")))
    j.check("photos-patient-filtered")

    # The viewer, keeping the filter: 1 of 3, next, previous.
    j.follow(cards.first.get_by_role("link").first)
    expect(page.get_by_text("1 of 3")).to_be_visible()
    viewer_image = page.locator(".viewer__figure img")
    assert images_loaded(viewer_image) == [900]  # the JPEG, its display rendition
    j.check("photos-viewer")
    j.follow(page.get_by_role("link", name="Next →"))
    expect(page.get_by_text("2 of 3")).to_be_visible()
    assert images_loaded(viewer_image)[0] > 0
    j.follow(page.get_by_role("link", name="Next →"))
    expect(page.get_by_text("3 of 3")).to_be_visible()
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    j.follow(page.get_by_role("link", name="← Previous"))
    expect(page.get_by_text("2 of 3")).to_be_visible()
    page.get_by_text("Delete this photo").click()
    expect(page.get_by_label("Why is this photo being deleted?")).to_be_visible()
    check_state(j, "photos-viewer-delete")

    # An after photo of the same area and view: the before shows see-through as a guide.
    j.follow(page.get_by_role("link", name="← Maria Lopez"))
    j.follow(page.get_by_role("link", name="+ Add photos"))
    page.get_by_label("Treatment").select_option(str(episode.pk))
    page.get_by_label("Facial area").select_option("lips")
    page.get_by_role("combobox", name="View", exact=True).select_option("front")
    page.get_by_label("Stage").select_option("after")
    ghost = page.locator("#ghost")
    expect(ghost).to_be_visible()
    expect(ghost).to_contain_text("Earlier photo: Before")
    overlay = page.locator("#ghost-image")
    expect(overlay).to_be_visible()
    assert images_loaded(overlay)[0] > 0
    opacity = page.locator("#ghost-opacity")
    assert overlay.evaluate("img => getComputedStyle(img).opacity") == "0.45"
    opacity.focus()
    page.keyboard.press("End")
    assert overlay.evaluate("img => getComputedStyle(img).opacity") == "0.9"
    page.keyboard.press("Home")
    assert overlay.evaluate("img => getComputedStyle(img).opacity") == "0.1"
    for _ in range(3):
        page.keyboard.press("PageUp")
    lowered = float(overlay.evaluate("img => getComputedStyle(img).opacity"))
    assert 0.1 < lowered < 0.9
    check_state(j, "photos-upload-ghost")

    # A chosen file previews under the ghost, in exactly the same box.
    page.locator("#file-input").set_input_files(
        [_file("lips-front-after.jpg", "image/jpeg", _after_jpeg())]
    )
    preview = page.locator("#ghost-preview")
    expect(preview).to_be_visible()
    assert images_loaded(preview)[0] > 0
    stage_box = box(page.locator("#ghost-stage"))
    assert box(preview) == box(overlay)
    assert box(overlay)[2] <= stage_box[2] and box(overlay)[3] <= stage_box[3]
    on_top = page.evaluate(
        "() => { const ghost = document.getElementById('ghost-image');"
        " const r = ghost.getBoundingClientRect(); ghost.style.pointerEvents = 'auto';"
        " const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).id;"
        " ghost.style.pointerEvents = ''; return top; }"
    )
    assert on_top == "ghost-image"
    check_state(j, "photos-upload-ghost-preview")

    # Upload it while the worker is held back: the record shows "Preparing…" first, and the
    # page's own polling swaps the thumbnail in without a reload once processing is done.
    with mock.patch.object(photo_services, "enqueue_processing"):
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator(".uploads__item--ok")).to_have_count(1, timeout=15_000)
    j.follow(page.get_by_role("link", name=re.compile("See them on the patient")))
    waiting = page.locator('#photos .photo-card[data-status="processing"]')
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Preparing…")
    check_state(j, "photos-patient-preparing")
    page.evaluate("window.notReloaded = true")
    (after,) = [p for p in photos_of(clinic, patient) if p.stage == "after"]
    with clinic_context(clinic.id):
        assert photo_services.photo_process(clinic_id=clinic.id, photo_id=after.id) == "ready"
    card = page.locator(f'#photos .photo-card[data-photo-id="{after.pk}"]')
    expect(card).to_have_attribute("data-status", "ready", timeout=15_000)
    assert images_loaded(card.locator("img"))[0] > 0
    expect(card).not_to_contain_text("Preparing")
    assert page.evaluate("window.notReloaded") is True
    check_state(j, "photos-patient-after")


# --- who must not see them ----------------------------------------------------------------


# Error pages and status codes look the same at any size: once, at desktop size, is enough.
@pytest.mark.parametrize("journey", ["desktop"], indirect=True)
def test_reception_sees_no_photo_and_another_clinic_gets_not_found(journey, server):
    j, page = journey, journey.page
    clinic = f.make_clinic("Lakeside Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    reception = f.make_member(clinic, Role.RECEPTION, "Rita Reception")
    patient = f.make_patient(clinic, nurse, first_name="Maria", last_name="Lopez")
    episode = f.make_episode(clinic, patient, nurse, areas=["lips"])
    photo = f.make_ready_photo(clinic, patient, episode, nurse, data=_jpeg())
    paths = photo_paths(clinic.slug, photo)
    other = f.make_clinic("Hilltop Clinic")
    stranger = f.make_member(other, Role.ADMIN, "Sam Stranger")

    j.sign_in(reception.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(reception)))
    j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/")
    expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    expect(page.locator("#photos")).to_have_count(0)
    expect(page.locator(".photo-card, .photo-grid")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Add photos"))).to_have_count(0)
    expect(page.locator("main img")).to_have_count(0)
    j.check("photos-patient-reception")
    for kind in ("thumb", "display", "original", "detail"):
        response = j.visit(paths[kind])
        assert response.status == 403, (kind, response.status)
        assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", name="Not available to your role")).to_be_visible()
    j.check("photos-reception-forbidden")
    j.sign_out()

    # An admin of another clinic: the photo's URLs under either clinic are simply not found.
    j.sign_in(stranger.email, f.PASSWORD)
    j.enter_code(fresh_code(device_of(stranger)))
    for slug in (clinic.slug, other.slug):
        for kind, path in photo_paths(slug, photo).items():
            response = j.visit(path)
            assert response.status == 404, (slug, kind, response.status)
            assert b"JFIF" not in response.body()
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    j.check("photos-other-clinic-not-found")


# --- the camera, with a fake device -------------------------------------------------------


def test_camera_with_the_ghost_guide_takes_a_photo_that_is_queued(browser, server):
    """Chromium's fake camera (a moving test pattern) stands in for the phone's: the guide shows
    over the live picture, a photo is taken, queued, and uploaded like any other."""
    clinic = f.make_clinic("Lakeside Skin")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Maria", last_name="Lopez")
    episode = f.make_episode(clinic, patient, nurse, areas=["lips"])
    f.make_ready_photo(clinic, patient, episode, nurse, data=_jpeg())
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
            base_url=server.url, locale="en-GB", permissions=["camera"], **VIEWPORTS["phone"]
        )
        context.set_default_timeout(10_000)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
        )
        page = context.new_page()
        errors = watch_for_errors(page)
        j = Journey(page, server.url, "phone")

        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/photos/add/")
        page.get_by_label("Facial area").select_option("lips")
        page.get_by_label("Stage").select_option("after")
        expect(page.locator("#ghost")).to_be_visible()
        page.get_by_role("button", name="Use camera with guide").click()
        video = page.locator("#ghost-video")
        expect(video).to_be_visible()
        page.wait_for_function(
            "() => { const v = document.getElementById('ghost-video');"
            " return v.readyState >= 2 && v.videoWidth > 0 && !v.paused; }"
        )
        overlay = page.locator("#ghost-image")
        assert images_loaded(overlay)[0] > 0
        assert box(video) == box(overlay)
        shoot = page.get_by_role("button", name="Take photo")
        expect(shoot).to_be_visible()
        check_state(j, "photos-camera-ghost")

        shoot.click()
        item = page.locator(".uploads__item")
        expect(item).to_have_count(1)
        expect(item.locator(".uploads__name")).to_have_text(re.compile(r"^camera-.+\.jpg$"))
        # The photo just taken now shows under the guide, and the camera is off.
        expect(page.locator("#ghost-preview")).to_be_visible()
        expect(video).to_be_hidden()
        assert page.evaluate(
            "document.getElementById('ghost-video').srcObject === null"
            " || !document.getElementById('ghost-video').srcObject.active"
        )
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator(".uploads__item--ok")).to_have_count(1, timeout=15_000)
        check_state(j, "photos-camera-uploaded")
        (taken,) = [p for p in photos_of(clinic, patient) if p.stage == "after"]
        assert taken.status == PhotoStatus.READY and taken.original_mime == "image/jpeg"
        context.close()
    finally:
        camera_browser.close()
    assert not errors, errors
    assert not j.problems, "\n".join(j.problems)
