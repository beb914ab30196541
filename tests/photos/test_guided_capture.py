"""Guided capture sequences (issue 12, item 1): the views per treatment type, admin-editable,
and the capture page that steps through them with a ghost for each view."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos import selectors
from photos.models import DEFAULT_SEQUENCE, CaptureSequence, Photo
from tests import factories as f
from tests.photos.test_photo_pages import jpeg, upload

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
FACE = ["front", "left_45", "left_90", "right_45", "right_90"]


def url(name, clinic, **kw):
    return reverse(name, kwargs={"clinic_slug": clinic.slug, **kw})


@pytest.fixture
def setting(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Maria", last_name="Lopez")
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner, areas=["lips"])
    return cast, patient, episode


def test_the_default_sequence_for_the_face_is_five_views(cast):
    assert [str(v) for v in DEFAULT_SEQUENCE] == FACE
    with clinic_context(cast.clinic_a.id):
        assert selectors.sequence_for(clinic=cast.clinic_a, treatment_type="toxin") == FACE


def test_an_admin_edits_a_sequence_audited_and_it_is_used(setting):
    cast, patient, episode = setting
    admin = f.verified_client(cast.admin)
    page = admin.get(url("capture_sequences", cast.clinic_a))
    assert page.status_code == 200 and "Botulinum toxin" in page.content.decode()
    response = admin.post(
        url("capture_sequences", cast.clinic_a),
        {"treatment_type": "toxin", "views": ["front", "chin_up"]},
        follow=True,
    )
    assert "Capture sequence saved." in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert selectors.sequence_for(clinic=cast.clinic_a, treatment_type="toxin") == [
            "front",
            "chin_up",
        ]
        event = AuditEvent.objects.get(action="photos.sequence_changed")
    assert event.details == {
        "treatment_type": "toxin",
        "before": None,
        "after": ["front", "chin_up"],
    }
    html = (
        f.verified_client(cast.practitioner)
        .get(url("photo_capture", cast.clinic_a, patient_id=patient.pk) + "?stage=before")
        .content.decode()
    )
    assert html.count('data-label="') == 2 and 'data-view="chin_up"' in html


@pytest.mark.parametrize(
    "data",
    [
        {"treatment_type": "toxin", "views": []},
        {"treatment_type": "toxin", "views": ["front", "sideways"]},
        {"treatment_type": "toxin", "views": ["front", "front"]},
        {"treatment_type": "massage", "views": ["front"]},
    ],
)
def test_a_bad_sequence_is_refused_and_changes_nothing(cast, data):
    admin = f.verified_client(cast.admin)
    response = admin.post(url("capture_sequences", cast.clinic_a), data, follow=True)
    assert "Nothing changed." in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not CaptureSequence.objects.filter(clinic=cast.clinic_a).exists()


def test_only_admins_edit_sequences_and_another_clinic_cannot(cast):
    for member in (cast.practitioner, cast.reception):
        client = f.verified_client(member)
        assert client.get(url("capture_sequences", cast.clinic_a)).status_code == 403
        data = {"treatment_type": "toxin", "views": ["front"]}
        assert client.post(url("capture_sequences", cast.clinic_a), data).status_code == 403
    stranger = f.verified_client(cast.stranger)
    assert stranger.get(url("capture_sequences", cast.clinic_a)).status_code == 404
    with clinic_context(cast.clinic_a.id):
        assert not CaptureSequence.objects.exists()


def test_the_patient_page_starts_before_and_after_capture_in_one_tap(setting):
    cast, patient, episode = setting
    html = (
        f.verified_client(cast.practitioner)
        .get(url("patient_detail", cast.clinic_a, patient_id=patient.pk))
        .content.decode()
    )
    capture = url("photo_capture", cast.clinic_a, patient_id=patient.pk)
    assert f'href="{capture}?stage=before">Take before photos' in html
    assert f'href="{capture}?stage=after">Take after photos' in html
    # Before the treatments, so at the top on a phone.
    assert html.index("Take before photos") < html.index('id="treatments-h"')
    reception = f.verified_client(cast.reception).get(
        url("patient_detail", cast.clinic_a, patient_id=patient.pk)
    )
    assert "Take before photos" not in reception.content.decode()


def test_the_after_sequence_offers_each_views_before_photo_as_its_ghost(setting):
    cast, patient, episode = setting
    befores = {
        view: f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view=view)
        for view in FACE
    }
    html = (
        f.verified_client(cast.practitioner)
        .get(url("photo_capture", cast.clinic_a, patient_id=patient.pk) + "?stage=after")
        .content.decode()
    )
    for view, photo in befores.items():
        ghost = url("photo_display", cast.clinic_a, photo_id=photo.pk)
        assert f'data-view="{view}"' in html and f'data-ghost="{ghost}"' in html
    assert 'data-stage="after"' in html and f'data-episode="{episode.pk}"' in html
    assert 'data-area="lips"' in html


def test_views_already_taken_for_this_stage_show_as_done(setting):
    cast, patient, episode = setting
    done = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view="left_45")
    html = (
        f.verified_client(cast.practitioner)
        .get(url("photo_capture", cast.clinic_a, patient_id=patient.pk) + "?stage=before")
        .content.decode()
    )
    assert f'data-photo="{done.pk}"' in html
    assert html.count("capture__step--done") == 1


def test_without_a_treatment_the_capture_page_says_to_record_one(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    html = (
        f.verified_client(cast.practitioner)
        .get(url("photo_capture", cast.clinic_a, patient_id=patient.pk))
        .content.decode()
    )
    assert "Record the treatment first." in html and "capture-steps" not in html


def test_a_bad_stage_episode_or_area_falls_back_rather_than_failing(setting):
    cast, patient, episode = setting
    client = f.verified_client(cast.practitioner)
    response = client.get(
        url("photo_capture", cast.clinic_a, patient_id=patient.pk),
        {"stage": "sideways", "episode": "not-a-uuid", "area": "elbow"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-stage="before"' in html and 'data-area="lips"' in html


def test_reception_cannot_capture_and_another_clinic_gets_404(setting):
    cast, patient, episode = setting
    path = url("photo_capture", cast.clinic_a, patient_id=patient.pk)
    assert f.verified_client(cast.reception).get(path).status_code == 403
    other = reverse(
        "photo_capture", kwargs={"clinic_slug": cast.clinic_b.slug, "patient_id": patient.pk}
    )
    assert f.verified_client(cast.stranger).get(other).status_code == 404


def test_a_retake_replaces_the_earlier_shot_of_the_step(setting):
    cast, patient, episode = setting
    first = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view="front")
    client = f.verified_client(cast.practitioner)
    response = upload(
        client,
        cast.clinic_a,
        patient,
        episode,
        [("front.jpg", jpeg((300, 400)))],
        replaces=str(first.pk),
    )
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.id):
        first.refresh_from_db()
        assert first.deleted_at is not None
        assert first.delete_reason == "Retaken in guided capture"
        assert Photo.objects.filter(patient=patient, deleted_at__isnull=True).count() == 1


def test_a_retake_is_one_transaction_the_new_shot_and_the_deletion_together(setting, monkeypatch):
    from photos import services as photo_services

    cast, patient, episode = setting
    first = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view="front")
    client = f.verified_client(cast.practitioner)

    def broken_delete(**kwargs):
        raise RuntimeError("the deletion failed half-way")

    monkeypatch.setattr(photo_services, "photo_delete", broken_delete)
    client.raise_request_exception = False
    response = upload(
        client,
        cast.clinic_a,
        patient,
        episode,
        [("front.jpg", jpeg((300, 400)))],
        replaces=str(first.pk),
    )
    assert response.status_code == 500
    with clinic_context(cast.clinic_a.id):
        # Neither happened: the earlier shot is still the step's one photo.
        assert list(Photo.objects.filter(patient=patient).values_list("pk", flat=True)) == [
            first.pk
        ]
        first.refresh_from_db()
        assert first.deleted_at is None


def test_a_refused_retake_keeps_the_earlier_shot(setting):
    cast, patient, episode = setting
    first = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, view="front")
    client = f.verified_client(cast.practitioner)
    response = upload(
        client,
        cast.clinic_a,
        patient,
        episode,
        [("front.jpg", b"not a photo at all")],
        replaces=str(first.pk),
    )
    assert response.status_code == 400
    assert response.json()["results"][0]["ok"] is False
    with clinic_context(cast.clinic_a.id):
        first.refresh_from_db()
        assert first.deleted_at is None
        assert Photo.objects.filter(patient=patient).count() == 1


def test_a_retake_of_another_patients_or_clinics_photo_stores_nothing(setting):
    cast, patient, episode = setting
    other = f.make_patient(cast.clinic_a, cast.admin, last_name="Other")
    other_episode = f.make_episode(cast.clinic_a, other, cast.practitioner)
    theirs = f.make_ready_photo(cast.clinic_a, other, other_episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    for replaces in (str(theirs.pk), "not-a-uuid"):
        response = upload(
            client,
            cast.clinic_a,
            patient,
            episode,
            [("front.jpg", jpeg((300, 400)))],
            replaces=replaces,
        )
        assert response.status_code == 400
        assert "Nothing was stored" in response.json()["problem"]
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(patient=patient).exists()
        theirs.refresh_from_db()
        assert theirs.deleted_at is None
