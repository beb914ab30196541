"""The patient page's photo grid is one "shown these photos" event, not one per thumbnail: the
page lists the photos it showed, and each thumbnail URL carries a grant signed for that member
and photo, so fetching it writes nothing more. Without a valid grant (another member, another
photo, an expired or forged one) a thumbnail is recorded on its own, as before."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos import services as photo_services
from photos import thumbnails
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
    later = time.time() + thumbnails.GRANT_SECONDS + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert photo_services.thumbnail_granted(grant, photo=photos[0], by=cast.practitioner) is None


# --- answered from memory (photos.thumbnails) ----------------------------------------------


def granted_thumbs(client, cast, patient) -> list[str]:
    url = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    return thumb_urls(client.get(url).content)


def test_a_granted_thumbnail_seen_before_is_answered_without_the_database(
    cast, grid, django_assert_num_queries
):
    patient, photos = grid
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    first = client.get(thumb)  # the ordinary path: session, 2FA, membership, the photo
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = client.get(thumb)
    assert again.status_code == 200 and again.content == first.content
    assert again["Cache-Control"].startswith("private, no-store")
    assert again["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert again["X-Content-Type-Options"] == "nosniff" and again["Content-Type"] == "image/jpeg"
    assert events(cast.clinic_a, "photo.viewed") == []


def ordinary(client, thumb: str) -> int:
    """How many queries the request made (0: answered from memory)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(thumb)
    return len(queries)


def test_a_grant_is_only_answered_from_memory_for_its_own_session(cast, grid):
    patient, _ = grid
    # The same member in another browser session (signed in first: a sign-in marks the
    # member's earlier grants revoked) holds the URL but not the session.
    other = f.verified_client(cast.practitioner)
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    client.get(thumb)
    assert ordinary(other, thumb) > 0
    assert ordinary(client, thumb) == 0


def test_signing_out_ends_answers_from_memory_at_once(cast, grid):
    patient, _ = grid
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    client.get(thumb)
    stolen = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    replay = Client()
    replay.cookies["sessionid"] = stolen
    response = replay.get(thumb)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_deactivated_member_gets_nothing_from_memory(cast, grid):
    from accounts import services as clinic_services
    from clinic.models import Membership

    patient, _ = grid
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    client.get(thumb)
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.practitioner)
        clinic_services.staff_deactivate(clinic=cast.clinic_a, membership=membership, by=cast.admin)
    response = client.get(thumb)
    assert response.status_code != 200 and response.content[:2] != b"\xff\xd8"


def test_a_deleted_photo_is_not_answered_from_memory(cast, grid):
    patient, photos = grid
    client = f.verified_client(cast.practitioner)
    thumbs = granted_thumbs(client, cast, patient)
    for thumb in thumbs:
        client.get(thumb)
    target = next(t for t in thumbs if str(photos[0].pk) in t)
    with clinic_context(cast.clinic_a.id):
        photo_services.photo_delete(
            clinic=cast.clinic_a, photo=photos[0], by=cast.admin, reason="wrong patient"
        )
    assert client.get(target).status_code == 404
    # The clinic's other granted thumbnails take the ordinary path once, then memory again.
    others = [t for t in thumbs if t != target]
    assert ordinary(client, others[0]) > 0


def test_shredded_keys_are_not_answered_from_memory(cast, grid):
    from vault import storage

    patient, photos = grid
    client = f.verified_client(cast.practitioner)
    thumb = next(t for t in granted_thumbs(client, cast, patient) if str(photos[1].pk) in t)
    client.get(thumb)
    with clinic_context(cast.clinic_a.id):
        storage.blobs_forget_keys(clinic_id=cast.clinic_a.id, blob_ids=[photos[1].thumb_id])
    response = client.get(thumb)
    assert response.status_code == 404


def test_when_the_cache_cannot_say_the_ordinary_path_answers(cast, grid, monkeypatch):
    from django.core.cache import cache

    patient, _ = grid
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    client.get(thumb)

    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get_many", down)
    assert ordinary(client, thumb) > 0
    assert client.get(thumb).status_code == 200


def test_a_cache_that_started_again_empty_honours_no_earlier_grant(cast, grid):
    from django.core.cache import cache

    patient, _ = grid
    client = f.verified_client(cast.practitioner)
    thumb = granted_thumbs(client, cast, patient)[0]
    client.get(thumb)
    assert ordinary(client, thumb) == 0
    cache.clear()  # as Redis restarted without persistence: every mark is gone
    assert ordinary(client, thumb) > 0
    assert ordinary(client, thumb) > 0  # still: the grant is older than the new marks
    fresh = granted_thumbs(client, cast, patient)[0]
    client.get(fresh)
    assert ordinary(client, fresh) == 0


def test_with_thumbnails_from_memory_off_every_request_takes_the_ordinary_path(cast, grid):
    from django.test import override_settings

    patient, _ = grid
    with override_settings(THUMBNAILS_FROM_MEMORY=False):
        client = f.verified_client(cast.practitioner)
        thumb = granted_thumbs(client, cast, patient)[0]
        assert client.get(thumb).status_code == 200
        assert ordinary(client, thumb) > 0
