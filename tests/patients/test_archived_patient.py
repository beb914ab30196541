"""An archived patient gets no new treatment, photo or consent request: the services refuse a
direct POST with a clear message, and nothing is stored or sent."""

import pytest
from django.core import mail
from django.urls import reverse

from clinic.tenancy import clinic_context
from consent.models import ConsentRequest
from patients.models import TreatmentEpisode
from patients.services import patient_archive
from photos.models import Photo
from tests import factories as f
from tests.photos.test_photo_pages import upload
from vault.models import Blob

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="ann.archived@example.org")
    episode = f.make_episode(cast.clinic_a, patient, cast.admin)
    with clinic_context(cast.clinic_a.id):
        patient_archive(clinic=cast.clinic_a, patient=patient, by=cast.admin)
        patient.refresh_from_db()
    return patient, episode


def _url(name, clinic, **kw):
    return reverse(name, kwargs={"clinic_slug": clinic.slug, **kw})


def test_a_treatment_posted_for_an_archived_patient_is_refused(cast, archived):
    patient, _ = archived
    client = f.verified_client(cast.practitioner)
    response = client.post(
        _url("episode_create", cast.clinic_a, patient_id=patient.pk),
        {
            "treatment_type": "filler",
            "areas": ["lips"],
            "performed_on": "2026-11-01",
            "practitioner": str(cast.practitioner.pk),
        },
    )
    assert response.status_code == 200
    assert "is archived, so you cannot record a treatment" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert TreatmentEpisode.objects.filter(patient=patient).count() == 1


def test_photos_posted_for_an_archived_patient_are_refused_and_nothing_is_stored(cast, archived):
    patient, episode = archived
    blobs_before = Blob.objects.count()
    client = f.verified_client(cast.practitioner)
    response = upload(client, cast.clinic_a, patient, episode, [("a.jpg", f.photo_jpeg())])
    assert response.status_code == 400
    assert "is archived, so you cannot add photos" in response.json()["problem"]
    with clinic_context(cast.clinic_a.id):
        assert not Photo.objects.filter(patient=patient).exists()
        assert Blob.objects.count() == blobs_before


def test_a_consent_request_for_an_archived_patient_is_refused_and_no_mail_leaves(cast, archived):
    patient, _ = archived
    client = f.verified_client(cast.practitioner)
    response = client.post(
        _url("consent_request", cast.clinic_a, patient_id=patient.pk), follow=True
    )
    assert "is archived, so you cannot send a consent request" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not ConsentRequest.objects.filter(patient=patient).exists()
    assert mail.outbox == []


def test_a_receptionist_cannot_be_named_as_the_practitioner(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    response = client.post(
        _url("episode_create", cast.clinic_a, patient_id=patient.pk),
        {
            "treatment_type": "filler",
            "areas": ["lips"],
            "performed_on": "2026-11-01",
            "practitioner": str(cast.reception.pk),
        },
    )
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.id):
        assert not TreatmentEpisode.objects.filter(patient=patient).exists()
