"""The patient page's photo grid is one "shown these photos" event, not one per thumbnail: the
page lists the photos it showed, and each thumbnail URL carries a grant signed for that member
and photo, so fetching it writes nothing more. Without a valid grant (another member, another
photo, an expired or forged one) a thumbnail is recorded on its own, as before."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos import services as photo_services
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def grid(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photos = [
        f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view=view)
        for view in ("front", "left_45", "right_45")
    ]
    return patient, photos


def events(clinic, action: str) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action).order_by("seq"))


def thumb_urls(page: bytes) -> list[str]:
    return [
        u.replace("&amp;", "&") for u in re.findall(r'src="([^"]+/thumb/[^"]*)"', page.decode())
    ]


def test_the_page_records_its_thumbnails_once_and_their_requests_add_nothing(cast, grid):
    patient, photos = grid
    client = f.verified_client(cast.practitioner)
    url = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    page = client.get(url).content
    (shown,) = events(cast.clinic_a, "photo.thumbnails_viewed")
    assert shown.actor_id == cast.practitioner.pk and shown.patient_id == patient.pk
    assert sorted(shown.details["ids"]) == sorted(str(p.pk) for p in photos)
    assert shown.details["count"] == 3
    urls = thumb_urls(page)
    assert len(urls) == 3 and all("?grant=" in u for u in urls)
    for thumb in urls:
        assert client.get(thumb).status_code == 200
    assert events(cast.clinic_a, "photo.viewed") == []


def test_a_thumbnail_without_a_valid_grant_is_recorded_on_its_own(cast, grid):
    patient, photos = grid
    mine = f.verified_client(cast.practitioner)
    url = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    urls = thumb_urls(mine.get(url).content)
    bare = urls[0].split("?")[0]
    other_photo = reverse(
        "photo_thumb", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photos[2].pk}
    )
    grant = urls[0].split("?grant=")[1]
    tries = [
        (mine, bare),  # no grant
        (mine, f"{bare}?grant=forged{grant[6:]}"),  # not ours
        (mine, f"{other_photo}?grant={grant}"),  # another photo's grant
        (f.verified_client(cast.admin), urls[0]),  # another member with this URL
    ]
    for client, thumb in tries:
        assert client.get(thumb).status_code == 200
    viewed = events(cast.clinic_a, "photo.viewed")
    assert len(viewed) == 4
    assert [e.actor_id for e in viewed] == [cast.practitioner.pk] * 3 + [cast.admin.pk]


def test_a_grant_expires(cast, grid, monkeypatch):
    patient, photos = grid
    with clinic_context(cast.clinic_a.id):
        grants = photo_services.thumbnails_shown(
            clinic=cast.clinic_a, patient=patient, photos=photos, by=cast.practitioner
        )
    grant = grants[photos[0].pk]
    assert photo_services.thumbnail_granted(grant, photo=photos[0], by=cast.practitioner)
    later = time.time() + photo_services.THUMB_GRANT_SECONDS + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert photo_services.thumbnail_granted(grant, photo=photos[0], by=cast.practitioner) is None
