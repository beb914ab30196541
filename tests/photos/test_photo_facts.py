"""Every photo its own facts (issue 12, item 2): per-file stage, area and view in one upload,
and correcting them afterwards, audited, with the original untouched."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos.models import Photo
from tests import factories as f
from tests.photos.test_photo_pages import jpeg, upload
from vault import storage

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
FIVE_VIEWS = ["front", "left_45", "left_90", "right_45", "right_90"]


@pytest.fixture
def setting(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner, areas=["lips"])
    return cast, patient, episode


def test_a_five_file_upload_with_five_views_stores_five_views(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    files = [(f"{view}.jpg", jpeg((300, 400))) for view in FIVE_VIEWS]
    response = upload(
        client, cast.clinic_a, patient, episode, files, view="front", file_view=FIVE_VIEWS
    )
    assert response.status_code == 200, response.content
    with clinic_context(cast.clinic_a.id):
        stored = {
            p.original_name: (p.view, p.stage, p.area, p.episode_id)
            for p in Photo.objects.filter(patient=patient)
        }
    assert stored == {f"{v}.jpg": (v, "before", "lips", episode.pk) for v in FIVE_VIEWS}


def test_each_file_may_have_its_own_stage_and_area_and_empty_means_the_forms(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    files = [("one.jpg", jpeg((300, 400))), ("two.jpg", jpeg((300, 400)))]
    response = upload(
        client,
        cast.clinic_a,
        patient,
        episode,
        files,
        file_stage=["after", ""],
        file_area=["", "chin"],
    )
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.id):
        stored = {p.original_name: (p.stage, p.area) for p in Photo.objects.filter(patient=patient)}
    assert stored == {"one.jpg": ("after", "lips"), "two.jpg": ("before", "chin")}


@pytest.mark.parametrize(
    "extra",
    [
        {"file_view": ["front", "sideways"]},
        {"file_stage": ["before", "during"]},
        {"file_area": ["lips\x01"]},
        {"file_view": ["front", "front", "front"]},  # more values than files
    ],
)
def test_an_unknown_per_file_value_refuses_the_upload_and_stores_nothing(setting, extra):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    files = [("one.jpg", jpeg((300, 400))), ("two.jpg", jpeg((300, 400)))]
    response = upload(client, cast.clinic_a, patient, episode, files, **extra)
    assert response.status_code == 400
    assert "Nothing was stored" in response.json()["problem"]
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(patient=patient).exists()


def _correct_url(cast, photo):
    return reverse(
        "photo_correct", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk}
    )


def test_practitioner_corrects_a_photos_view_audited_and_the_original_untouched(setting):
    cast, patient, episode = setting
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view="front")
    with clinic_context(cast.clinic_a.id):
        original_before = storage.blob_read(photo.original)
    client = f.verified_client(cast.practitioner)
    response = client.post(
        _correct_url(cast, photo), {"stage": "after", "area": "chin", "view": "left_45"}
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Photo details corrected" in page
    with clinic_context(cast.clinic_a.id):
        photo.refresh_from_db()
        assert (photo.stage, photo.area, photo.view) == ("after", "chin", "left_45")
        assert storage.blob_read(photo.original) == original_before
        event = AuditEvent.objects.get(action="photo.details_corrected", target_id=str(photo.pk))
    assert event.details["changes"] == {
        "stage": ["before", "after"],
        "area": ["lips", "chin"],
        "view": ["front", "left_45"],
    }
    assert event.details["sha256"] == photo.original_sha256
    assert event.actor_id == cast.practitioner.pk


def test_a_correction_that_changes_nothing_records_nothing(setting):
    cast, patient, episode = setting
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    client.post(_correct_url(cast, photo), {"stage": "before", "area": "lips", "view": "front"})
    with clinic_context(cast.clinic_a.id):
        assert not AuditEvent.objects.filter(action="photo.details_corrected").exists()


def test_a_bad_correction_is_refused_and_changes_nothing(setting):
    cast, patient, episode = setting
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    response = client.post(_correct_url(cast, photo), {"stage": "after", "view": "upside_down"})
    assert response.status_code == 302
    assert "nothing changed" in client.get(response["Location"]).content.decode()
    assert client.get(_correct_url(cast, photo)).status_code == 405
    with clinic_context(cast.clinic_a.id):
        photo.refresh_from_db()
        assert photo.stage == "before" and photo.view == "front"
        assert not AuditEvent.objects.filter(action="photo.details_corrected").exists()


def test_reception_may_not_correct_and_another_clinic_gets_404(setting):
    cast, patient, episode = setting
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    data = {"stage": "after", "area": "chin", "view": "left_45"}
    assert (
        f.verified_client(cast.reception).post(_correct_url(cast, photo), data).status_code == 403
    )
    stranger = reverse(
        "photo_correct", kwargs={"clinic_slug": cast.clinic_b.slug, "photo_id": photo.pk}
    )
    assert f.verified_client(cast.stranger).post(stranger, data).status_code == 404
    with clinic_context(cast.clinic_a.id):
        photo.refresh_from_db()
        assert photo.stage == "before"


def test_the_grid_links_each_photo_to_its_correction_form(setting):
    cast, patient, episode = setting
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    page = client.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    ).content.decode()
    link = reverse("photo_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk})
    assert f"{link}?correct=1#correct" in page
    detail = client.get(link + "?correct=1").content.decode()
    assert 'id="correct" open' in detail


def test_drag_photos_here_is_hidden_until_the_page_knows_dragging_is_possible(setting):
    cast, patient, episode = setting
    html = (
        f.verified_client(cast.practitioner)
        .get(
            reverse(
                "photo_upload", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
            )
        )
        .content.decode()
    )
    assert '<p id="drag-hint" hidden><strong>Drag photos here</strong>' in html
