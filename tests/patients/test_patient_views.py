"""Patients and treatments through the staff pages."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from patients.models import Patient, TreatmentEpisode
from tests import factories as f

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def url(name, clinic, **kw):
    return reverse(name, kwargs={"clinic_slug": clinic.slug, **kw})


def test_practitioner_creates_patient_and_it_is_audited(cast):
    client = f.verified_client(cast.practitioner)
    response = client.post(
        url("patient_create", cast.clinic_a),
        {
            "first_name": "Joanne",
            "last_name": "Smith",
            "date_of_birth": "1985-03-14",
            "email": "Joanne@Example.com",
            "phone": "07700 900123",
            "notes": "",
        },
    )
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        patient = Patient.objects.get(clinic=cast.clinic_a)
        assert patient.email == "joanne@example.com"
        assert AuditEvent.objects.filter(
            clinic=cast.clinic_a, action="patient.created", patient_id=patient.pk
        ).exists()
    page = client.get(response["Location"])
    assert b"Joanne Smith" in page.content
    with clinic_context(cast.clinic_a.id):
        assert (
            AuditEvent.objects.filter(action="patient.viewed", patient_id=patient.pk).count() == 1
        )


def test_future_date_of_birth_is_refused_and_nothing_is_saved(cast):
    client = f.verified_client(cast.practitioner)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        url("patient_create", cast.clinic_a),
        {
            "first_name": "Future",
            "last_name": "Person",
            "date_of_birth": tomorrow.isoformat(),
        },
    )
    assert response.status_code == 200
    assert "The date of birth cannot be in the future." in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not Patient.objects.filter(clinic=cast.clinic_a).exists()


def test_duplicate_email_within_clinic_is_refused(cast):
    f.make_patient(cast.clinic_a, cast.admin, email="dup@example.com")
    client = f.verified_client(cast.practitioner)
    response = client.post(
        url("patient_create", cast.clinic_a),
        {
            "first_name": "Other",
            "last_name": "Person",
            "date_of_birth": "1990-01-01",
            "email": "DUP@example.com",
        },
    )
    assert response.status_code == 200
    assert "already uses this e-mail address" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert Patient.objects.filter(clinic=cast.clinic_a).count() == 1


def test_same_email_in_another_clinic_is_allowed_and_reveals_nothing(cast):
    f.make_patient(cast.clinic_a, cast.admin, email="shared@example.com", first_name="Secret")
    client = f.verified_client(cast.stranger)
    response = client.post(
        url("patient_create", cast.clinic_b),
        {
            "first_name": "Other",
            "last_name": "Person",
            "date_of_birth": "1990-01-01",
            "email": "shared@example.com",
        },
    )
    assert response.status_code == 302
    listing = client.get(url("patient_list", cast.clinic_b), {"q": "shared@example.com"})
    assert b"Secret" not in listing.content
    assert b"Other" in listing.content


@pytest.mark.parametrize(
    "query", ["jo smi", "SMITH", "smi", "14/03/1985", "1985-03-14", "07700900", "joanne@ex"]
)
def test_search_finds_patient_by_name_dob_email_or_phone(cast, query):
    f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com", phone="07700 900123")
    f.make_patient(
        cast.clinic_a,
        cast.admin,
        first_name="Mark",
        last_name="Jones",
        date_of_birth=date(1970, 1, 1),
    )
    client = f.verified_client(cast.reception)
    response = client.get(url("patient_list", cast.clinic_a), {"q": query})
    content = response.content.decode()
    assert "Smith, Joanne" in content
    assert "Jones, Mark" not in content


def test_patient_list_query_count_does_not_grow_with_patients(cast, django_assert_max_num_queries):
    for i in range(30):
        f.make_patient(cast.clinic_a, cast.admin, first_name=f"P{i}", email=f"p{i}@example.com")
    client = f.verified_client(cast.reception)
    client.get(url("patient_list", cast.clinic_a))  # warm the session
    # 14, and 5 for the list's access event (its savepoint, the chain's lock, head and insert).
    with django_assert_max_num_queries(19):
        response = client.get(url("patient_list", cast.clinic_a))
    assert response.content.decode().count("list__link") == 25


def test_archived_patient_leaves_list_but_record_is_kept(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    client.post(url("patient_archive", cast.clinic_a, patient_id=patient.pk))
    listing = client.get(url("patient_list", cast.clinic_a))
    assert b"Smith, Joanne" not in listing.content
    listing = client.get(url("patient_list", cast.clinic_a), {"archived": "1"})
    assert b"Smith, Joanne" in listing.content


def test_practitioner_records_treatment(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    response = client.post(
        url("episode_create", cast.clinic_a, patient_id=patient.pk),
        {
            "treatment_type": "filler",
            "areas": ["lips", "chin"],
            "performed_on": "2026-11-01",
            "practitioner": str(cast.practitioner.pk),
            "product": "Juvederm Volbella 1ml",
            "batch_number": "V1234",
        },
    )
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        episode = TreatmentEpisode.objects.get(patient=patient)
    assert episode.areas == ["lips", "chin"]
    page = client.get(url("patient_detail", cast.clinic_a, patient_id=patient.pk)).content
    assert b"Dermal filler" in page and b"V1234" in page


def test_treatment_without_area_or_in_future_is_refused(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = client.post(
        url("episode_create", cast.clinic_a, patient_id=patient.pk),
        {
            "treatment_type": "toxin",
            "performed_on": future,
            "practitioner": str(cast.practitioner.pk),
        },
    )
    text = response.content.decode()
    assert "Choose at least one area treated." in text
    assert "cannot be in the future" in text
    with clinic_context(cast.clinic_a.id):
        assert not TreatmentEpisode.objects.filter(patient=patient).exists()


def test_practitioner_of_another_clinic_cannot_be_named(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    response = client.post(
        url("episode_create", cast.clinic_a, patient_id=patient.pk),
        {
            "treatment_type": "toxin",
            "areas": ["forehead"],
            "performed_on": "2026-11-01",
            "practitioner": str(cast.stranger.pk),
        },
    )
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.id):
        assert not TreatmentEpisode.objects.filter(patient=patient).exists()


def test_reception_sees_patient_details_but_cannot_record_treatment(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.reception)
    assert (
        client.get(url("patient_detail", cast.clinic_a, patient_id=patient.pk)).status_code == 200
    )
    assert (
        client.get(url("episode_create", cast.clinic_a, patient_id=patient.pk)).status_code == 403
    )
