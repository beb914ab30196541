"""The faces of a photo: found once by the worker after the photo is ready, kept encrypted
with it, erased with it; and a comparison the faces refuse says plainly it is not lined up."""

import json

import pytest
from django.db import transaction

from audit.models import AuditEvent
from clinic.tenancy import clinic_context, service_write
from comparisons import services
from photos import services as photo_services
from photos.models import BlobPurpose, Photo
from retention import erasure
from tests import factories as f
from tests.comparisons.real_faces import phone_photo, source
from vault import storage

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture(scope="module")
def jpegs():
    return {
        name: phone_photo(source(f"{name}.jpg"), long_side=800)
        for name in ("obama", "obama3", "biden")
    }


def _photo(cast, patient, episode, data, **details):
    return f.make_ready_photo(
        cast.clinic_a, patient, episode, cast.practitioner, data=data, view="front", **details
    )


def _find(cast, photo):
    with clinic_context(cast.clinic_a.id), transaction.atomic():
        result = photo_services.photo_faces_find(clinic_id=cast.clinic_a.id, photo_id=photo.id)
        photo.refresh_from_db()
    return result


def test_the_worker_finds_the_faces_once_and_keeps_them_encrypted(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = _photo(cast, patient, episode, jpegs["obama"])
    # Ready (its thumbnail shown) before any face work: that is a job of its own.
    assert photo.thumb_id and photo.landmarks_id is None
    assert _find(cast, photo) == "found"
    with clinic_context(cast.clinic_a.id):
        blob = photo.landmarks
        assert blob.purpose == BlobPurpose.LANDMARKS
        marks = photo_services.photo_landmarks(photo)
        assert marks is not None and len(marks.subject.descriptor) == 128
        # At rest it is ciphertext: neither the descriptor's key nor its numbers in clear.
        ciphertext = storage._ciphertext(blob)
        assert b"descriptor" not in ciphertext
        assert json.loads(storage.blob_read(blob))["faces"][0]["descriptor"]
        event = AuditEvent.objects.get(clinic=cast.clinic_a, action="photo.faces_found")
        assert event.details == {"faces": 1}
    assert _find(cast, photo) == "skipped"  # once


def test_a_photo_not_ready_is_left_alone(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = _photo(cast, patient, episode, jpegs["obama"])
    with clinic_context(cast.clinic_a.id), service_write("the test: a photo still processing"):
        Photo.objects.filter(pk=photo.pk).update(status="processing")
    assert _find(cast, photo) == "skipped"
    assert photo.landmarks_id is None


def test_the_faces_are_erased_with_the_patient(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = _photo(cast, patient, episode, jpegs["obama"])
    _find(cast, photo)
    with clinic_context(cast.clinic_a.id):
        data = erasure.gather(clinic=cast.clinic_a, patient=patient)
    assert photo.landmarks_id in data.blob_ids


def test_a_pair_of_two_people_is_not_lined_up_and_says_so(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    before = _photo(cast, patient, episode, jpegs["obama"], stage="before")
    after = _photo(cast, patient, episode, jpegs["biden"], stage="after")
    with clinic_context(cast.clinic_a.id):
        comparison = services.comparison_create(
            clinic=cast.clinic_a, patient=patient, before=before, after=after, by=cast.practitioner
        )
    codes = [w["code"] for w in comparison.warnings]
    assert not comparison.proposal["found"]
    assert "not_same_person" in codes and "not_aligned" in codes
    client = f.verified_client(cast.practitioner)
    page = client.get(comparison_url(cast, comparison)).content.decode()
    assert "Not lined up" in page and "Not the same person" in page


def test_a_pair_of_one_person_from_two_sessions_is_lined_up_from_the_faces(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    before = _photo(cast, patient, episode, jpegs["obama"], stage="before")
    after = _photo(cast, patient, episode, jpegs["obama3"], stage="after")
    _find(cast, before)  # one found by the worker, the other found on the spot
    with clinic_context(cast.clinic_a.id):
        comparison = services.comparison_create(
            clinic=cast.clinic_a, patient=patient, before=before, after=after, by=cast.practitioner
        )
    assert comparison.proposal["found"] and comparison.proposal["method"]
    codes = [w["code"] for w in comparison.warnings]
    assert "not_aligned" not in codes and "not_same_person" not in codes
    assert "skin_pixels" in comparison.light


def comparison_url(cast, comparison):
    from django.urls import reverse

    return reverse(
        "comparison_detail",
        kwargs={"clinic_slug": cast.clinic_a.slug, "comparison_id": comparison.pk},
    )


def test_light_is_not_compared_on_a_pair_that_is_not_lined_up(cast, jpegs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    before = _photo(cast, patient, episode, jpegs["obama"], stage="before")
    after = _photo(cast, patient, episode, jpegs["biden"], stage="after")
    with clinic_context(cast.clinic_a.id):
        comparison = services.comparison_create(
            clinic=cast.clinic_a, patient=patient, before=before, after=after, by=cast.practitioner
        )
    codes = {w["code"] for w in comparison.warnings}
    assert not {"brightness", "colour"} & codes and comparison.light == {}
