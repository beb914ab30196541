"""The patient's signing and withdrawal pages on a phone (issue 12, item 3)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from consent import selectors, services
from consent.models import ConsentRecord, ConsentRequest, ConsentRestoration, ConsentWithdrawal
from tests import factories as f
from tests.consent.test_consent import DOB, send_request, sign_post

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture
def patient(cast):
    return f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com", date_of_birth=DOB)


def _identity_page(cast, patient) -> tuple[Client, str]:
    client = Client()
    path = send_request(cast, patient)
    return client, client.get(path)["Location"]


def test_the_date_of_birth_is_three_numeric_fields_not_a_date_picker(cast, patient):
    client, page = _identity_page(cast, patient)
    html = client.get(page).content.decode()
    assert 'type="date"' not in html
    for name, autocomplete in (("day", "bday-day"), ("month", "bday-month"), ("year", "bday-year")):
        assert f'name="{name}"' in html
        assert f'autocomplete="{autocomplete}"' in html
    assert html.count('inputmode="numeric"') == 3


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "Enter your date of birth."),
        ({"day": "14", "month": "3"}, "Enter the year of your date of birth."),
        ({"day": "31", "month": "2", "year": "1985"}, "That date does not exist"),
        ({"day": "aa", "month": "3", "year": "1985"}, "in numbers"),
        ({"day": "14", "month": "3", "year": "85"}, "in numbers"),
    ],
)
def test_an_incomplete_or_impossible_date_is_explained_and_costs_no_attempt(
    cast, patient, fields, message
):
    client, page = _identity_page(cast, patient)
    response = client.post(page, fields)
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert 'id="error-summary"' in html and 'href="#id_day"' in html
    with clinic_context(cast.clinic_a.id):
        assert ConsentRequest.objects.get(patient=patient).failed_checks == 0


def test_a_wrong_date_counts_an_attempt_and_the_summary_says_how_many_are_left(cast, patient):
    client, page = _identity_page(cast, patient)
    response = client.post(page, {"day": "1", "month": "1", "year": "1990"})
    html = response.content.decode()
    assert "4 attempts left" in html and 'id="error-summary"' in html


def test_the_right_date_in_three_fields_opens_the_form(cast, patient):
    client, page = _identity_page(cast, patient)
    response = client.post(page, {"day": "14", "month": "03", "year": "1985"})
    assert response.status_code == 302
    assert "Your choices" in client.get(response["Location"]).content.decode()


def _sign_page(cast, patient) -> Client:
    client, page = _identity_page(cast, patient)
    client.post(page, {"day": "14", "month": "3", "year": "1985"})
    return client


def test_without_a_required_use_the_summary_at_the_top_links_to_the_box(cast, patient):
    client = _sign_page(cast, patient)
    response = sign_post(client, cast, uses=("social_media",))
    html = response.content.decode()
    summary = html.index('id="error-summary"')
    assert summary < html.index('id="sign-form"')  # above the form, at the top
    assert 'href="#id_use_clinical_record"' in html[summary:]
    assert "consent-choice--error" in html
    with clinic_context(cast.clinic_a.id):
        assert not ConsentRecord.objects.filter(patient=patient).exists()


def test_the_required_use_is_marked_for_the_pages_own_check(cast, patient):
    html = (
        _sign_page(cast, patient)
        .get(reverse("consent_sign", kwargs={"clinic": cast.clinic_a.slug}))
        .content.decode()
    )
    assert 'data-required="Clinical record"' in html
    assert 'id="error-summary"' in html and "hidden" in html.split('id="error-summary"')[1][:200]


def test_the_choices_come_before_the_full_text_which_comes_before_signing(cast, patient):
    html = (
        _sign_page(cast, patient)
        .get(reverse("consent_sign", kwargs={"clinic": cast.clinic_a.slug}))
        .content.decode()
    )
    choices, text, sign = (
        html.index("Your choices"),
        html.index('id="consent-text"'),
        html.index('class="sign-h"'),
    )
    assert html.index('href="#consent-text"') < choices < text < sign


# --- withdrawing: the clinical record asks once; other uses are one tap with an undo ----------


def _withdraw_client(cast, patient, uses=("clinical_record", "social_media", "website")):
    from tests.consent.test_consent import withdraw_path

    f.make_signed_consent(cast.clinic_a, patient, cast.practitioner, uses=list(uses))
    client = Client()
    client.get(client.get(withdraw_path(mail.outbox[0]))["Location"])
    return client, reverse("consent_withdraw", kwargs={"clinic": cast.clinic_a.slug})


def _active(cast, patient) -> set[str]:
    with clinic_context(cast.clinic_a.id):
        return selectors.active_uses(clinic=cast.clinic_a, patient=patient)


@pytest.mark.parametrize("use", ["all", "clinical_record"])
def test_withdrawing_the_clinical_record_or_all_asks_once_and_says_what_it_means(
    cast, patient, use
):
    client, page = _withdraw_client(cast, patient)
    first = client.post(page, {"use": use})
    html = first.content.decode()
    assert first.status_code == 200
    assert "What this means for your care" in html
    assert 'name="confirmed" value="1"' in html
    assert "clinical_record" in _active(cast, patient)  # nothing withdrawn yet
    second = client.post(page, {"use": use, "confirmed": "1"}, follow=True)
    assert "Withdrawn:" in second.content.decode()
    assert "clinical_record" not in _active(cast, patient)
    # No undo for the clinical record: that needs a new form with the clinic.
    assert 'name="undo"' not in second.content.decode()


def test_another_use_is_one_tap_and_undo_restores_it_as_a_new_event(cast, patient):
    client, page = _withdraw_client(cast, patient)
    response = client.post(page, {"use": "social_media"}, follow=True)
    html = response.content.decode()
    assert "Withdrawn: Social media" in html
    assert 'name="undo"' in html
    assert _active(cast, patient) == {"clinical_record", "website"}
    undone = client.post(page, {"undo": "1"}, follow=True).content.decode()
    assert "Undone: you agree again to Social media" in undone
    assert _active(cast, patient) == {"clinical_record", "social_media", "website"}
    with clinic_context(cast.clinic_a.id):
        withdrawal = ConsentWithdrawal.objects.get(patient=patient)
        assert withdrawal.uses == ["social_media"]  # kept as it was: never edited
        assert ConsentRestoration.objects.get(patient=patient).withdrawal == withdrawal
        actions = list(
            AuditEvent.objects.filter(patient_id=patient.pk)
            .order_by("seq")
            .values_list("action", flat=True)
        )
        periods = selectors.consent_periods(clinic=cast.clinic_a, patient=patient)
    # The changes (the page's views between them are on record too).
    changes = [a for a in actions if not a.endswith("_viewed")]
    assert changes[-2:] == ["consent.withdrawn", "consent.withdrawal_undone"]
    # The history shows both: social media valid, ended, then valid again.
    social = periods["social_media"]
    assert len(social) == 2 and social[0].end is not None and social[1].end is None
    # The clinic's page no longer warns about a withdrawal the patient undid.
    staff = f.verified_client(cast.practitioner).get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    )
    assert "Consent withdrawn: Social media" not in staff.content.decode()


def test_the_undo_lasts_until_the_page_is_left(cast, patient):
    client, page = _withdraw_client(cast, patient)
    client.post(page, {"use": "social_media"})
    assert 'name="undo"' in client.get(page).content.decode()
    assert 'name="undo"' not in client.get(page).content.decode()


def test_an_undo_twice_or_after_a_later_change_or_from_another_session_is_refused(cast, patient):
    client, page = _withdraw_client(cast, patient)
    client.post(page, {"use": "social_media"})
    client.post(page, {"undo": "1"})
    again = client.post(page, {"undo": "1"}, follow=True).content.decode()
    assert "nothing to undo" in again
    # Withdraw website, then something else changes: the undo no longer applies.
    client.post(page, {"use": "website"})
    with clinic_context(cast.clinic_a.id):
        withdrawal = ConsentWithdrawal.objects.filter(patient=patient).order_by("withdrawn_at")
        latest = withdrawal.last()
        services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=patient,
            uses=["social_media"],
            channel="phone",
            by=cast.practitioner,
        )
        with pytest.raises(ValidationError, match="changed since"):
            services.withdrawal_undo(clinic=cast.clinic_a, patient=patient, withdrawal_id=latest.pk)
    assert "website" not in _active(cast, patient)
    # Another browser without the withdrawal in its session cannot undo anything.
    other, _ = Client(), None
    response = other.post(page, {"undo": "1"})
    assert response.status_code == 400


def test_an_undo_of_a_clinical_record_withdrawal_or_too_late_is_refused(cast, patient):
    client, page = _withdraw_client(cast, patient)
    client.post(page, {"use": "clinical_record", "confirmed": "1"})
    with clinic_context(cast.clinic_a.id):
        withdrawal = ConsentWithdrawal.objects.get(patient=patient)
        with pytest.raises(ValidationError, match="cannot be undone here"):
            services.withdrawal_undo(
                clinic=cast.clinic_a, patient=patient, withdrawal_id=withdrawal.pk
            )
    client.post(page, {"use": "website"})
    with clinic_context(cast.clinic_a.id):
        late = ConsentWithdrawal.objects.filter(patient=patient, uses=["website"]).get()
        with (
            mock.patch.object(
                services.timezone, "now", return_value=late.withdrawn_at + timedelta(hours=1)
            ),
            pytest.raises(ValidationError, match="too late"),
        ):
            services.withdrawal_undo(clinic=cast.clinic_a, patient=patient, withdrawal_id=late.pk)


def test_another_clinics_withdrawal_cannot_be_undone(cast, patient):
    client, page = _withdraw_client(cast, patient)
    client.post(page, {"use": "social_media"})
    with clinic_context(cast.clinic_a.id):
        withdrawal = ConsentWithdrawal.objects.get(patient=patient)
    other_patient = f.make_patient(cast.clinic_b, cast.stranger)
    with clinic_context(cast.clinic_b.id), pytest.raises(ValidationError, match="nothing to undo"):
        services.withdrawal_undo(
            clinic=cast.clinic_b, patient=other_patient, withdrawal_id=withdrawal.pk
        )
