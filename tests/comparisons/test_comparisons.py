"""Making a comparison as the practitioner does: the pair (suggested or chosen), the refusals,
the proposed alignment and its warnings, the worker's image and PDF, presentation mode."""

import hashlib
import json
import subprocess
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from comparisons import selectors, services
from comparisons.models import Comparison, ComparisonStatus
from photos import services as photo_services
from photos.models import Photo
from tests import factories as f
from vault.models import Blob

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def url(cast, name, **kwargs):
    return reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **kwargs})


def events(cast, action):
    with clinic_context(cast.clinic_a.id):
        return list(AuditEvent.objects.filter(clinic=cast.clinic_a, action=action))


def create(cast, pair, before=None, after=None, user=None):
    client = f.verified_client(user or cast.practitioner)
    response = client.post(
        url(cast, "comparison_new", patient_id=pair.patient.pk),
        {"before": str((before or pair.before).pk), "after": str((after or pair.after).pk)},
    )
    return client, response


def only_comparison(cast) -> Comparison:
    with clinic_context(cast.clinic_a.id):
        return Comparison.objects.select_related("image", "pdf").get()


def test_the_page_suggests_the_latest_before_and_after_of_the_same_area_and_view(cast, pair):
    client = f.verified_client(cast.practitioner)
    response = client.get(url(cast, "comparison_new", patient_id=pair.patient.pk))
    assert response.status_code == 200
    (suggestion,) = response.context["suggestions"]
    assert (suggestion.before.pk, suggestion.after.pk) == (pair.before.pk, pair.after.pk)


def test_a_follow_up_is_suggested_against_the_before(cast, pair, face_jpegs):
    follow_up = f.make_ready_photo(
        cast.clinic_a,
        pair.patient,
        pair.episode,
        cast.practitioner,
        data=face_jpegs[1],
        stage="follow_up",
        area="forehead",
        view="front",
        taken_at=pair.after.taken_at + timedelta(days=60),
    )
    with clinic_context(cast.clinic_a.id):
        found = selectors.suggestions_for(clinic=cast.clinic_a, patient=pair.patient)
    assert [(s.before.pk, s.after.pk) for s in found] == [
        (pair.before.pk, follow_up.pk),
        (pair.before.pk, pair.after.pk),
    ]
    # The patient page counts the same pairs from five columns (suggestion_count).
    with clinic_context(cast.clinic_a.id):
        assert selectors.suggestion_count(clinic=cast.clinic_a, patient=pair.patient) == 2
    page = f.verified_client(cast.practitioner).get(
        url(cast, "patient_detail", patient_id=pair.patient.pk)
    )
    assert page.context["comparisons"]["suggested"] == 2


def test_a_suggested_pair_gets_the_proposed_alignment_and_its_warnings(cast, pair):
    client, response = create(cast, pair)
    comparison = only_comparison(cast)
    assert response.status_code == 302 and str(comparison.pk) in response["Location"]
    proposal = comparison.proposal
    assert proposal["found"] and proposal["inliers"] >= 30
    assert abs(proposal["scale"] - 1.15) < 0.03 and abs(proposal["rotation"] - 6) < 1
    codes = [w["code"] for w in comparison.warnings]
    assert codes == ["scale", "rotation"]
    assert "1.15×" in comparison.warnings[0]["message"]
    (event,) = events(cast, "comparison.created")
    assert event.patient_id == pair.patient.pk and event.details["alignment_found"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Rotation: the after is turned" in page.content.decode()


def test_a_pair_of_different_views_is_warned_about_and_can_still_be_made(cast, pair, face_jpegs):
    side = f.make_ready_photo(
        cast.clinic_a,
        pair.patient,
        pair.episode,
        cast.practitioner,
        data=face_jpegs[1],
        stage="after",
        area="forehead",
        view="left_45",
    )
    create(cast, pair, after=side)
    warning = only_comparison(cast).warnings[0]
    assert warning["code"] == "view"
    assert "Front" in warning["message"] and "Left 45°" in warning["message"]


def test_photos_of_two_patients_are_refused_and_nothing_is_made(cast, pair):
    other = f.make_patient(cast.clinic_a, cast.admin, first_name="Other")
    episode = f.make_episode(cast.clinic_a, other, cast.practitioner)
    theirs = f.make_ready_photo(cast.clinic_a, other, episode, cast.practitioner)
    _, response = create(cast, pair, after=theirs)
    assert response.status_code == 400
    assert "two different patients" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not Comparison.objects.exists()


def test_a_photo_not_ready_is_refused(cast, pair):
    with clinic_context(cast.clinic_a.id):
        pending = photo_services.photo_accept(
            clinic=cast.clinic_a,
            patient=pair.patient,
            by=cast.practitioner,
            details=photo_services.PhotoDetails(
                episode=pair.episode, stage="after", area="forehead", view="front", taken_at=None
            ),
            filename="p.jpg",
            data=f.photo_jpeg(),
        )
    _, response = create(cast, pair, after=pending)
    assert response.status_code == 400 and "not ready yet" in response.content.decode()


def test_a_deleted_photo_is_refused(cast, pair):
    with clinic_context(cast.clinic_a.id):
        photo_services.photo_delete(
            clinic=cast.clinic_a, photo=pair.after, by=cast.practitioner, reason="blurred"
        )
    _, response = create(cast, pair)
    assert response.status_code == 400
    assert "The after photo has been deleted" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not Comparison.objects.exists()
        assert Photo.objects.get(pk=pair.after.pk).deleted_at


def test_the_same_photo_twice_is_refused(cast, pair):
    _, response = create(cast, pair, after=pair.before)
    assert response.status_code == 400 and "two different photos" in response.content.decode()


def test_another_clinics_photo_id_is_a_404_and_on_record(cast, pair):
    patient_b = f.make_patient(cast.clinic_b, cast.stranger)
    episode_b = f.make_episode(cast.clinic_b, patient_b, cast.stranger)
    theirs = f.make_ready_photo(cast.clinic_b, patient_b, episode_b, cast.stranger)
    _, response = create(cast, pair, after=theirs)
    assert response.status_code == 404
    (denial,) = events(cast, "access.denied")
    assert denial.actor_id == cast.practitioner.pk
    with clinic_context(cast.clinic_a.id):
        assert not Comparison.objects.exists()


def test_reception_cannot_compare_photos(cast, pair):
    _, response = create(cast, pair, user=cast.reception)
    assert response.status_code == 403


def test_the_worker_renders_an_encrypted_image_and_pdf_and_viewing_them_is_on_record(
    cast, pair, django_capture_on_commit_callbacks, tmp_path
):
    client, response = create(cast, pair)
    comparison = only_comparison(cast)
    nudged = {**comparison.transform, "tx": comparison.transform["tx"] + 4}
    status_url = url(cast, "comparison_status", comparison_id=comparison.pk)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        client.post(
            url(cast, "comparison_render", comparison_id=comparison.pk),
            {"transform": json.dumps(nudged), "full_name": ""},
        )
    assert client.get(status_url).json()["status"] == "rendering"
    for callback in pending:
        callback()
    state = client.get(status_url).json()
    assert state["status"] == "ready" and state["pdf_url"] and state["image_url"]
    comparison = only_comparison(cast)
    assert comparison.transform["tx"] == pytest.approx(nudged["tx"])
    with clinic_context(cast.clinic_a.id):
        purposes = set(Blob.objects.values_list("purpose", flat=True))
    assert {"comparison_image", "comparison_pdf"} <= purposes
    image = client.get(state["image_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"].startswith("private, no-store")
    pdf = client.get(state["pdf_url"])
    assert pdf.content.startswith(b"%PDF")
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "J.S." in text and "Joanne" not in text  # initials unless asked
    assert pair.before.original_sha256 in text and pair.after.original_sha256 in text
    assert "Azzalure" in text and "adjusted by hand" in text and "Rotation" in text
    # The PDF carries the stored aligned image byte for byte, and prints its SHA-256.
    subprocess.run(["pdfimages", "-j", str(path), str(tmp_path / "img")], check=True)
    (embedded,) = [p.read_bytes() for p in tmp_path.glob("img-*.jpg")]
    assert embedded == image.content
    assert hashlib.sha256(image.content).hexdigest() in text.replace("\n", "")
    assert len(events(cast, "comparison.image_viewed")) == 1
    assert len(events(cast, "comparison.pdf_viewed")) == 1
    assert events(cast, "comparison.rendered")[0].details["before_sha256"]


def test_a_second_delivery_of_an_old_render_does_nothing(cast, pair):
    create(cast, pair)
    comparison = only_comparison(cast)
    with clinic_context(cast.clinic_a.id):
        assert (
            services.comparison_render(
                clinic_id=cast.clinic_a.id, comparison_id=comparison.pk, version=7
            )
            == "skipped"
        )


@pytest.mark.parametrize(
    "transform",
    [
        "not json",
        json.dumps({"scale": 1}),
        json.dumps({"scale": 50, "rotation": 0, "tx": 0, "ty": 0}),
        json.dumps({"scale": "nan", "rotation": 0, "tx": 0, "ty": 0}),
        json.dumps({"scale": 1, "rotation": 0, "tx": 1e12, "ty": 0}),
    ],
)
def test_a_bad_transform_is_refused_and_changes_nothing(cast, pair, transform):
    client, _ = create(cast, pair)
    before = only_comparison(cast)
    response = client.post(
        url(cast, "comparison_render", comparison_id=before.pk), {"transform": transform}
    )
    assert response.status_code == 302
    after = only_comparison(cast)
    assert after.transform == before.transform and after.status == ComparisonStatus.DRAFT
    assert "nothing changed" in [str(m) for m in response.wsgi_request._messages][0]


def test_get_on_a_post_only_url_changes_nothing(cast, pair):
    client, _ = create(cast, pair)
    comparison = only_comparison(cast)
    for name in ("comparison_render", "comparison_share"):
        assert client.get(url(cast, name, comparison_id=comparison.pk)).status_code == 405
    assert only_comparison(cast).status == ComparisonStatus.DRAFT


def test_files_are_not_served_before_they_are_made(cast, pair):
    client, _ = create(cast, pair)
    comparison = only_comparison(cast)
    assert client.get(url(cast, "comparison_pdf", comparison_id=comparison.pk)).status_code == 404


def test_presentation_mode_opens_in_one_tap_from_the_patient_page_and_is_on_record(cast, pair):
    client = f.verified_client(cast.practitioner)
    page = client.get(url(cast, "patient_detail", patient_id=pair.patient.pk))
    present = url(cast, "present", patient_id=pair.patient.pk)
    assert f'href="{present}"' in page.content.decode()
    response = client.get(present)
    assert response.status_code == 200
    body = response.content.decode()
    assert "sha256" not in body.lower() and "Joanne" not in body  # nothing but the photos
    assert body.count("/display/") >= 2
    (event,) = events(cast, "comparison.presented")
    assert event.details == {"pairs": 1}


def test_reception_sees_no_comparisons_section(cast, pair):
    client = f.verified_client(cast.reception)
    page = client.get(url(cast, "patient_detail", patient_id=pair.patient.pk))
    assert page.status_code == 200 and 'id="comparisons"' not in page.content.decode()
    assert client.get(url(cast, "present", patient_id=pair.patient.pk)).status_code == 403


def test_a_stranger_gets_404_for_a_comparison(cast, pair):
    create(cast, pair)
    comparison = only_comparison(cast)
    stranger = f.verified_client(cast.stranger)
    response = stranger.get(
        reverse(
            "comparison_detail",
            kwargs={"clinic_slug": cast.clinic_b.slug, "comparison_id": comparison.pk},
        )
    )
    assert response.status_code == 404
    assert (
        Client().get(url(cast, "comparison_detail", comparison_id=comparison.pk)).status_code == 302
    )


def test_the_presentation_wipe_uses_the_pairs_comparison_else_the_images_proposal(cast, pair):
    client = f.verified_client(cast.practitioner)
    present = url(cast, "present", patient_id=pair.patient.pk)
    (slide,) = response_slides(client.get(present))
    assert abs(slide["alignment"]["transform"]["scale"] - 1.15) < 0.03
    assert slide["alignment"]["before_size"] == [600, 800]
    create(cast, pair)
    comparison = only_comparison(cast)
    nudged = {**comparison.transform, "rotation": 2.5}
    with clinic_context(cast.clinic_a.id):
        services.comparison_render_request(
            clinic=cast.clinic_a, comparison=comparison, by=cast.practitioner, transform=nudged
        )
    (slide,) = response_slides(client.get(present))
    assert slide["alignment"]["transform"]["rotation"] == 2.5


def response_slides(response) -> list[dict]:
    import re

    match = re.search(
        r'<script id="present-slides" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))
