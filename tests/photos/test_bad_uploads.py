"""Every kind of bad upload, through the upload page: a clear message and nothing stored."""

import pytest

from clinic.tenancy import clinic_context
from photos.models import Photo
from tests import factories as f
from tests.photos import images
from tests.photos.test_photo_pages import upload
from vault.models import Blob

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


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


def test_uploads_never_touch_disk_in_plaintext(cast, monkeypatch):
    """A large upload stays in memory: Django's temporary-file spooling is never used."""
    from django.core.files import uploadedfile

    spooled = []
    original_init = uploadedfile.TemporaryUploadedFile.__init__

    def recording_init(self, *args, **kwargs):
        spooled.append(args)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", recording_init)
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    big = images.encode(images.photo_like(3000, 2250, grain=60), "JPEG", quality=97)
    assert len(big) > 2.5 * 2**20  # over Django's in-memory default
    response = upload(client, cast.clinic_a, patient, episode, [("big.jpg", big)])
    assert response.status_code == 200, response.content
    assert spooled == []


def test_a_file_over_the_limit_is_refused_by_its_real_size(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    huge = images.encode(images.photo_like(400, 300), "JPEG") + b"\0" * (60 * 2**20)
    response = upload(client, cast.clinic_a, patient, episode, [("sixty.jpg", huge)])
    assert response.status_code == 400
    assert "60 MB" in response.json()["results"][0]["message"]
