"""Presentation mode on a phone (issue 22, item 5): held upright (390x844) and on its side
(844x390) the photos fit the screen with Full screen and Close on it, measured, in both the
side-by-side and the wipe mode; the first slide is the front view and the pairs follow the
treatment's capture protocol, whatever order the photos were taken in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from clinic.models import Role
from tests import factories as f
from tests.browser.conftest import Journey, watch_for_errors
from tests.comparisons.images import jpeg, moved, textured_face

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PHONE = {"device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SCREENS = {
    "portrait": {"viewport": {"width": 390, "height": 844}, **PHONE},
    "landscape": {"viewport": {"width": 844, "height": 390}, **PHONE},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
# Taken newest-last in this order: a "latest first" presentation would open on the right 45.
TAKEN_ORDER = ["left_45", "front", "right_45"]


def _inside(box, width: int, height: int) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
    )


@pytest.mark.parametrize("screen", list(SCREENS))
def test_presentation_fits_the_screen_and_opens_on_the_front_view(browser, server, screen):
    clinic = f.make_clinic("Harbour Aesthetics")
    nurse = f.make_member(clinic, Role.PRACTITIONER, "Nina Nurse")
    patient = f.make_patient(clinic, nurse, first_name="Lena", last_name="Ortiz")
    episode = f.make_episode(clinic, patient, nurse, treatment_type="toxin", areas=["forehead"])
    start = timezone.now() - timedelta(days=30)
    for n, view in enumerate(TAKEN_ORDER):
        face = textured_face(600, 800, seed=11 + n)
        after_face, _ = moved(face, scale=1 / 1.05, degrees=2, shift=(6, -4))
        for stage, data, days in (("before", face, 0), ("after", after_face, 14)):
            f.make_ready_photo(
                clinic,
                patient,
                episode,
                nurse,
                data=jpeg(data),
                stage=stage,
                view=view,
                area="forehead",
                taken_at=start + timedelta(days=days, hours=n),
            )
    session = f.verified_client(nurse).cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(base_url=server.url, locale="en-GB", **SCREENS[screen])
    context.set_default_timeout(15_000)
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": server.url}]
    )
    page = context.new_page()
    errors = watch_for_errors(page)
    j = Journey(page, server.url, screen)
    width, height = SCREENS[screen]["viewport"]["width"], SCREENS[screen]["viewport"]["height"]
    try:
        j.visit(f"/c/{clinic.slug}/patients/{patient.pk}/present/", "present")
        title = page.locator('[data-role="title"]')
        # The front first, then the protocol's order (front, left 45, ..., right 45).
        expect(title).to_have_text("Forehead, front")
        seen = [title.text_content()]
        for _ in range(2):
            page.get_by_role("button", name="Next pair").click()
            seen.append(title.text_content())
        assert seen == ["Forehead, front", "Forehead, left 45°", "Forehead, right 45°"], seen
        page.get_by_role("button", name="Next pair").click()  # and round to the front again
        expect(title).to_have_text("Forehead, front")

        controls = {
            "Full screen": page.get_by_role("button", name="Full screen"),
            "Close": page.get_by_role("link", name="Close"),
            "Next pair": page.get_by_role("button", name="Next pair"),
        }
        photos = page.locator(".present__side .present__frame")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.present__side img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        for mode in ("side by side", "wipe"):
            if mode == "wipe":
                page.get_by_role("button", name="Wipe").click()
                photos = page.locator(".present__wipe [data-wipe]")
                page.wait_for_function(
                    "() => document.querySelector('.present__wipe [data-wipe]').offsetHeight > 80"
                )
            for name, control in controls.items():
                assert _inside(control.bounding_box(), width, height), (
                    screen,
                    mode,
                    name,
                    control.bounding_box(),
                )
            for index in range(photos.count()):
                shown = photos.nth(index).bounding_box()
                assert _inside(shown, width, height), (screen, mode, index, shown)
                assert shown["height"] > 100, (screen, mode, index, shown)  # still a photo
            assert page.evaluate("document.documentElement.scrollHeight") <= height
            j._audited = False
            j.check(f"present-{mode.replace(' ', '-')}")
    finally:
        context.close()
    assert not errors, errors
    assert not j.problems, "\n".join(j.problems)
