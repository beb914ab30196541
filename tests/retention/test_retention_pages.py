"""The retention pages as each role meets them, the bad input they refuse, the daily notice to
admins, and the patient's ledger behind the withdrawal link."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.tenancy import clinic_context
from comparisons.models import ComparisonShare
from consent import services as consent_services
from exports.models import Export
from patients.models import Patient
from retention import selectors
from retention.models import Erasure, LegalHold
from retention.tasks import list_due_for_erasure
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

LONG_AGO = timezone.localdate() - timedelta(days=365 * 9)


@pytest.fixture
def old_patient(cast):
    patient = f.make_patient(
        cast.clinic_a,
        cast.admin,
        first_name="Olwen",
        last_name="Oldfield",
        email="olwen@example.com",
        date_of_birth=date(1950, 2, 3),
    )
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=LONG_AGO)
    return patient


def _url(cast, name, **ids):
    return reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **ids})


@pytest.mark.parametrize("role", ["practitioner", "reception"])
def test_only_admins_reach_the_retention_pages(cast, old_patient, role):
    client = f.verified_client(getattr(cast, role))
    for name, ids in [
        ("retention", {}),
        ("patient_erase", {"patient_id": old_patient.pk}),
    ]:
        assert client.get(_url(cast, name, **ids)).status_code == 403
    for name in ("legal_hold_place", "patient_erase", "patient_erase_marketing"):
        response = client.post(_url(cast, name, patient_id=old_patient.pk), {"reason": "x"})
        assert response.status_code == 403
    with clinic_context(cast.clinic_a.pk):
        assert not LegalHold.objects.filter(clinic=cast.clinic_a).exists()
        assert Patient.objects.filter(pk=old_patient.pk).exists()


def test_admin_sees_the_due_list_and_sets_the_rules(cast, old_patient):
    client = f.verified_client(cast.admin)
    page = client.get(_url(cast, "retention")).content.decode()
    assert "Olwen Oldfield" in page and "Insurers often ask for 10 years" in page
    response = client.post(_url(cast, "retention"), {"adult_years": "0", "minor_until_age": "25"})
    assert response.status_code == 200 and "greater than or equal to 1" in response.content.decode()
    response = client.post(_url(cast, "retention"), {"adult_years": "10", "minor_until_age": "25"})
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.pk):
        assert selectors.rules_of(clinic=cast.clinic_a).adult_years == 10


def test_admin_places_and_lifts_a_hold_shown_on_the_patient_page(cast, old_patient):
    client = f.verified_client(cast.admin)
    hold_url = _url(cast, "legal_hold_place", patient_id=old_patient.pk)
    client.post(hold_url, {"hold-reason": "   "})
    with clinic_context(cast.clinic_a.pk):
        assert not LegalHold.objects.filter(clinic=cast.clinic_a).exists()
    client.post(hold_url, {"hold-reason": "Claim MDU-2291 opened 3 March"})
    response = client.post(hold_url, {"hold-reason": "again"}, follow=True)
    assert "already under a legal hold" in response.content.decode()
    # Everyone who sees the record sees the hold; only admins get the controls.
    page = (
        f.verified_client(cast.reception)
        .get(_url(cast, "patient_detail", patient_id=old_patient.pk))
        .content.decode()
    )
    assert "Legal hold" in page and "Claim MDU-2291" in page and "Lift legal hold" not in page
    erase_page = client.get(_url(cast, "patient_erase", patient_id=old_patient.pk)).content.decode()
    assert "cannot be erased" in erase_page and "Erase this record for good" not in erase_page
    client.post(
        _url(cast, "patient_erase", patient_id=old_patient.pk),
        {"confirm_name": "Olwen Oldfield"},
    )
    with clinic_context(cast.clinic_a.pk):
        assert Patient.objects.filter(pk=old_patient.pk).exists()
        hold = LegalHold.objects.get(clinic=cast.clinic_a)
    client.post(_url(cast, "legal_hold_lift", hold_id=hold.pk))
    with clinic_context(cast.clinic_a.pk):
        assert selectors.active_hold(clinic=cast.clinic_a, patient=old_patient) is None


def test_erasure_needs_the_typed_name_then_shows_the_tombstone(
    cast, old_patient, django_capture_on_commit_callbacks
):
    client = f.verified_client(cast.admin)
    url = _url(cast, "patient_erase", patient_id=old_patient.pk)
    with clinic_context(cast.clinic_a.pk):
        Export.objects.create(
            clinic=cast.clinic_a,
            patient=old_patient,
            recipient="Shield Insurance",
            reason="claim",
            requested_by=cast.admin,
            ready_at=timezone.now(),
        )
    page = client.get(url).content.decode()
    assert "Shield Insurance" in page and "Who received this record" in page
    response = client.post(url, {"confirm_name": "Olwen Oldfeld"})
    assert "not this patient&#x27;s full name" in response.content.decode()
    with clinic_context(cast.clinic_a.pk):
        assert Patient.objects.filter(pk=old_patient.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"confirm_name": "  olwen   OLDFIELD "})
    with clinic_context(cast.clinic_a.pk):
        erasure = Erasure.objects.get(clinic=cast.clinic_a)
    assert response["Location"] == _url(cast, "erasure_detail", erasure_id=erasure.pk)
    tomb = client.get(response["Location"]).content.decode()
    assert "Shield Insurance" in tomb and "Olwen" not in tomb
    assert client.get(url).status_code == 404


def test_early_erasure_asks_for_the_reason(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Nell", last_name="New")
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=timezone.localdate())
    client = f.verified_client(cast.admin)
    url = _url(cast, "patient_erase", patient_id=patient.pk)
    assert "retention period has not ended" in client.get(url).content.decode()
    response = client.post(url, {"confirm_name": "Nell New", "early_reason": ""})
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.pk):
        assert Patient.objects.filter(pk=patient.pk).exists()


def test_daily_job_tells_admins_of_newly_due_records_once_without_names(
    cast, old_patient, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        list_due_for_erasure.apply().get()
    (message,) = [m for m in mail.outbox if cast.admin.email in m.to]
    assert "1 record(s)" in message.subject
    assert "Olwen" not in message.body and "Oldfield" not in message.body
    assert f"/c/{cast.clinic_a.slug}/retention/" in message.body
    assert cast.practitioner.email not in message.to
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        list_due_for_erasure.apply().get()
    assert not [m for m in mail.outbox if cast.admin.email in m.to]


def test_the_patients_ledger_lists_where_each_photo_went(cast, django_capture_on_commit_callbacks):
    clinic, admin = cast.clinic_a, cast.admin
    patient = f.make_patient(clinic, admin, first_name="Lena", email="lena@example.com")
    episode = f.make_episode(clinic, patient, admin)
    before = f.make_ready_photo(clinic, patient, episode, admin, stage="before", area="lips")
    after = f.make_ready_photo(clinic, patient, episode, admin, stage="after", area="lips")
    f.make_ready_photo(clinic, patient, episode, admin, area="chin")  # only in the export
    f.make_signed_consent(clinic, patient, admin, uses=["clinical_record", "website"])
    with clinic_context(clinic.pk):
        consent_services.marketing_add(clinic=clinic, photo=after, use="website", by=admin)
        from comparisons.models import Comparison

        comparison = Comparison.objects.create(
            clinic=clinic,
            patient=patient,
            before=before,
            after=after,
            created_by=admin,
            proposal={},
            transform={},
        )
        ComparisonShare.objects.create(
            clinic=clinic,
            comparison=comparison,
            patient=patient,
            token_hash="1" * 64,
            sent_to=patient.email,
            sent_by=admin,
            expires_at=timezone.now() + timedelta(days=3),
            views=2,
        )
        Export.objects.create(
            clinic=clinic,
            patient=patient,
            recipient="Acme Insurance",
            reason="claim",
            requested_by=admin,
            ready_at=timezone.now(),
        )
        link = consent_services.withdrawal_link_create(clinic=clinic, patient=patient)
    client = Client()
    response = client.get(link.removeprefix("http://testserver"), follow=True)
    page = response.content.decode()
    assert "Where your photos have been used" in page
    assert "marketing library: Clinic website" in page
    assert "A before/after comparison e-mailed to you" in page and "opened 2 times" in page
    assert "Exported to Acme Insurance (insurance claim)" in page
    assert page.count('class="ledger__photo"') == 3  # before, after, and chin (in the export)
    assert "before photo, chin, front" in page.lower()
    assert "<img" not in page.split("Where your photos")[1]
