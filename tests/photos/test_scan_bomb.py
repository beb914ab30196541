"""A progressive JPEG of thousands of scans (a "scan bomb": libjpeg decodes the picture once
per scan) is refused by the upload check from its markers, before any decode, with a message
that says what to do; an ordinary progressive JPEG still goes through."""

from __future__ import annotations

import pytest

from clinic.images import ImageRejected
from clinic.tenancy import clinic_context
from photos import imaging
from photos.models import Photo
from tests import factories as f
from tests.photos import images
from tests.photos.test_photo_pages import upload
from vault.models import Blob


def test_a_scan_bomb_is_refused_by_the_upload_check():
    bomb = images.jpeg_scan_bomb(12_000)
    with pytest.raises(ImageRejected) as refused:
        imaging.inspect_upload(bomb, "bomb.jpg")
    assert refused.value.code == "too_many_scans"
    message = str(refused.value)
    assert "bomb.jpg" in message and "12,000" in message and "standard JPEG" in message


def test_the_scan_limit_is_the_limit():
    at_limit = images.jpeg_scan_bomb(imaging.MAX_JPEG_SCANS)
    assert imaging.inspect_upload(at_limit, "ok.jpg").format == "JPEG"
    with pytest.raises(ImageRejected):
        imaging.inspect_upload(images.jpeg_scan_bomb(imaging.MAX_JPEG_SCANS + 1), "bomb.jpg")


def test_a_large_photo_may_have_fewer_scans_than_a_small_one():
    # 48 megapixels x 45 scans is more decode work than allowed, though 45 scans is not.
    large = images.jpeg_scan_bomb(45, size=(8000, 6000), noise=False)
    with pytest.raises(ImageRejected) as refused:
        imaging.inspect_upload(large, "large.jpg")
    assert refused.value.code == "too_many_scans"


def test_an_ordinary_progressive_jpeg_is_accepted():
    ordinary = images.encode(images.photo_like(1600, 1200), "JPEG", progressive=True)
    assert imaging.inspect_upload(ordinary, "progressive.jpg").format == "JPEG"


@pytest.mark.django_db
def test_a_scan_bomb_upload_is_refused_clearly_and_nothing_is_stored(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    bomb = images.jpeg_scan_bomb(12_000)
    response = upload(client, cast.clinic_a, patient, episode, [("bomb.jpg", bomb)])
    assert response.status_code == 400
    (result,) = response.json()["results"]
    assert not result["ok"] and "scans" in result["message"]
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(clinic=cast.clinic_a).exists()
        assert not Blob.objects.filter(clinic=cast.clinic_a).exists()
