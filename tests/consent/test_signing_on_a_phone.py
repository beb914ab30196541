"""The patient's signing and withdrawal pages on a phone (issue 12, item 3)."""

import pytest
from django.test import Client
from django.urls import reverse

from clinic.tenancy import clinic_context
from consent.models import ConsentRecord, ConsentRequest
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
