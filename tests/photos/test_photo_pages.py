"""Photos through the staff pages: upload, processing, serving, deleting, and who may."""

import io
import json

import pytest
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos.models import Photo
from tests import factories as f
from vault.models import Blob

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def jpeg(size=(1200, 900), color=(180, 120, 100), exif=None) -> bytes:
    image = Image.effect_noise(size, 40).convert("RGB")
    image = Image.blend(image, Image.new("RGB", size, color), 0.6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, **({"exif": exif} if exif else {}))
    return out.getvalue()


def png(size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def setting(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner, areas=["lips"])
    return cast, patient, episode


def upload(
    client, clinic, patient, episode, files, stage="before", area="lips", view="front", **extra
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    payload = {
        "episode": str(episode.pk),
        "stage": stage,
        "area": area,
        "view": view,
        "files": [SimpleUploadedFile(name, data, "image/jpeg") for name, data in files],
        **extra,
    }
    return client.post(
        reverse("photo_upload", kwargs={"clinic_slug": clinic.slug, "patient_id": patient.pk}),
        payload,
        HTTP_ACCEPT="application/json",
    )


def uploaded_photo_id(client, clinic, patient, episode, name: str, data: bytes) -> str:
    """Upload one file through the page and return the id of the accepted photo."""
    response = upload(client, clinic, patient, episode, [(name, data)])
    assert response.status_code == 200, response.content
    (result,) = response.json()["results"]
    assert result["ok"], result
    return result["photo_id"]


def test_practitioner_uploads_and_the_photo_becomes_ready(
    setting, django_capture_on_commit_callbacks
):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, cast.clinic_a, patient, episode, [("lips.jpg", jpeg())])
    assert response.status_code == 200, response.content
    (result,) = response.json()["results"]
    assert result["ok"]
    with clinic_context(cast.clinic_a.id):
        photo = Photo.objects.get(pk=result["photo_id"])
        actions = list(
            AuditEvent.objects.filter(target_id=str(photo.pk)).values_list("action", flat=True)
        )
    assert photo.status == "ready"
    assert actions == ["photo.uploaded", "photo.processed"]
    thumb = client.get(result["thumb"])
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    assert thumb["Cache-Control"] == "private, no-store, max-age=0"
    assert thumb["X-Content-Type-Options"] == "nosniff"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 400
    page = client.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    )
    assert result["thumb"].encode() in page.content
    with clinic_context(cast.clinic_a.id):
        assert (
            AuditEvent.objects.filter(action="photo.viewed", target_id=str(photo.pk)).count() == 1
        )


def test_many_files_in_one_request_and_a_bad_one_among_them(
    setting, django_capture_on_commit_callbacks
):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            client,
            cast.clinic_a,
            patient,
            episode,
            [("a.jpg", jpeg()), ("b.png", png()), ("notes.jpg", b"just text\n")],
        )
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, False]
    assert "notes.jpg" in results[2]["message"]
    with clinic_context(cast.clinic_a.id):
        assert Photo.objects.filter(patient=patient).count() == 2


def test_101_files_are_refused_and_nothing_is_stored(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    small = png((8, 8))
    response = upload(
        client, cast.clinic_a, patient, episode, [(f"p{i}.png", small) for i in range(101)]
    )
    assert response.status_code == 400
    assert "at most 100" in response.json()["problem"]
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(patient=patient).exists()
        assert not Blob.objects.filter(clinic=cast.clinic_a).exists()


def test_45_mb_file_is_refused_before_it_is_read(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    response = upload(
        client, cast.clinic_a, patient, episode, [("huge.jpg", jpeg() + b"\0" * (45 * 2**20))]
    )
    assert response.status_code == 400
    assert "the limit is 40 MB" in response.json()["results"][0]["message"]
    with clinic_context(cast.clinic_a.id):
        assert not Blob.objects.filter(clinic=cast.clinic_a).exists()


def test_missing_details_are_refused_with_a_message(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    response = upload(client, cast.clinic_a, patient, episode, [("a.jpg", jpeg())], area="")
    assert response.status_code == 400
    assert "Facial area" in response.json()["problem"]


def test_exif_time_is_used_when_no_time_is_given(setting, django_capture_on_commit_callbacks):
    cast, patient, episode = setting
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2026:03:14 10:30:00"}  # DateTimeOriginal in the Exif IFD
    client = f.verified_client(cast.practitioner)
    response = upload(
        client, cast.clinic_a, patient, episode, [("dated.jpg", jpeg(exif=exif.tobytes()))]
    )
    with clinic_context(cast.clinic_a.id):
        photo = Photo.objects.get(pk=response.json()["results"][0]["photo_id"])
    assert (photo.taken_at.year, photo.taken_at.month, photo.taken_at.day) == (2026, 3, 14)


def test_reception_sees_no_photos(setting, django_capture_on_commit_callbacks):
    cast, patient, episode = setting
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            f.verified_client(cast.practitioner),
            cast.clinic_a,
            patient,
            episode,
            [("a.jpg", jpeg())],
        )
    result = response.json()["results"][0]
    reception = f.verified_client(cast.reception)
    for url in (result["thumb"], result["display"], result["detail"]):
        assert reception.get(url).status_code == 403
    page = reception.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    )
    assert b"photo-card" not in page.content and b"/thumb/" not in page.content


def test_original_download_is_for_admins_and_practitioners_and_audited(
    setting, django_capture_on_commit_callbacks
):
    cast, patient, episode = setting
    data = jpeg()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            f.verified_client(cast.practitioner), cast.clinic_a, patient, episode, [("a.jpg", data)]
        )
    photo_id = response.json()["results"][0]["photo_id"]
    url = reverse(
        "photo_original", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo_id}
    )
    download = f.verified_client(cast.admin).get(url)
    assert download.status_code == 200
    assert download.content == data  # byte-exact: the original is never re-encoded
    assert download["Content-Disposition"].startswith("attachment;")
    assert f.verified_client(cast.reception).get(url).status_code == 403
    with clinic_context(cast.clinic_a.id):
        assert AuditEvent.objects.filter(action="photo.downloaded", target_id=photo_id).count() == 1


def test_delete_needs_a_reason_and_hides_the_photo_everywhere(
    setting, django_capture_on_commit_callbacks
):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, cast.clinic_a, patient, episode, [("a.jpg", jpeg())])
    result = response.json()["results"][0]
    delete_url = reverse(
        "photo_delete", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": result["photo_id"]}
    )
    client.post(delete_url, {"reason": "  "})
    assert client.get(result["thumb"]).status_code == 200
    client.post(delete_url, {"reason": "wrong patient"})
    assert client.get(result["thumb"]).status_code == 404
    assert client.get(result["detail"]).status_code == 404
    with clinic_context(cast.clinic_a.id):
        event = AuditEvent.objects.get(action="photo.deleted", target_id=result["photo_id"])
    assert event.details == {"reason": "wrong patient"}


def test_filters_and_viewer_navigation(setting, django_capture_on_commit_callbacks):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, cast.clinic_a, patient, episode, [("a.jpg", jpeg())], area="lips")
        upload(client, cast.clinic_a, patient, episode, [("b.jpg", jpeg())], area="chin")
        upload(
            client, cast.clinic_a, patient, episode, [("c.jpg", jpeg())], area="lips", stage="after"
        )
    detail = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    page = client.get(detail, {"area": "lips", "layout": "grid"}).content.decode()
    assert page.count('class="photo-card"') == 2
    page = client.get(detail, {"area": "lips", "stage": "after"}).content.decode()
    assert page.count('class="photo-card"') == 1
    with clinic_context(cast.clinic_a.id):
        first = Photo.objects.filter(patient=patient).order_by("taken_at", "uploaded_at").first()
    viewer = client.get(
        reverse("photo_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": first.pk}),
        {"area": "lips"},
    ).content.decode()
    assert "1 of 2" in viewer and 'rel="next"' in viewer


def test_ghost_offers_the_earlier_photo_of_the_same_area_and_view(
    setting, django_capture_on_commit_callbacks
):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    ghost = reverse(
        "photo_ghost", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    assert client.get(ghost, {"area": "lips", "view": "front"}).json() == {"found": False}
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, cast.clinic_a, patient, episode, [("a.jpg", jpeg())])
    found = client.get(ghost, {"area": "lips", "view": "front"}).json()
    assert found["found"] and found["url"] == response.json()["results"][0]["display"]
    assert client.get(ghost, {"area": "lips", "view": "left_45"}).json() == {"found": False}


def test_status_endpoint_reports_processing_state(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    response = upload(client, cast.clinic_a, patient, episode, [("a.jpg", jpeg())])
    photo_id = response.json()["results"][0]["photo_id"]
    status_url = reverse(
        "photo_status", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    body = json.loads(client.get(status_url, {"ids": f"{photo_id},not-a-uuid"}).content)
    assert [p["status"] for p in body["photos"]] == ["processing"]
