"""Every kind of bad upload, through the upload page: a clear message and nothing stored."""

import pytest

from clinic.tenancy import clinic_context
from photos.models import Blob, Photo
from tests import factories as f
from tests.photos import images
from tests.photos.test_photo_pages import upload

pytestmark = pytest.mark.django_db


def _truncated_jpeg() -> bytes:
    data = images.encode(images.photo_like(1200, 900), "JPEG", quality=85)
    return data[: len(data) // 2]


BAD_FILES = {
    "zero-byte": ("empty.jpg", lambda: b"", "empty"),
    "truncated JPEG": ("cut.jpg", _truncated_jpeg, "incomplete"),
    "text renamed .jpg": ("notes.jpg", lambda: b"Patient notes\nline two\n" * 20, "text"),
    "PDF renamed .jpg": ("scan.jpg", images.minimal_pdf, "PDF"),
    "60000x60000 PNG": ("bomb.png", images.png_bomb, "megapixels"),
    "10000x10000 JPEG": ("huge.jpg", lambda: images.jpeg_claiming_size(10000, 10000), "megapixels"),
    "500-frame GIF": ("anim.gif", lambda: images.animated("GIF", 500), "GIF"),
    "path and NUL in the name": (
        "../../etc/pass\x00wd.jpg",
        lambda: b"not an image at all",
        "passwd.jpg",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_upload_is_refused_with_a_clear_message_and_nothing_is_stored(cast, case):
    name, build, expected = BAD_FILES[case]
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    response = upload(client, cast.clinic_a, patient, episode, [(name, build())])
    assert response.status_code == 400
    (result,) = response.json()["results"]
    assert not result["ok"]
    message = result["message"]
    assert expected.lower() in message.lower(), message
    assert "\x00" not in message and "../" not in message
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(clinic=cast.clinic_a).exists()
        assert not Blob.objects.filter(clinic=cast.clinic_a).exists()
