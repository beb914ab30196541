"""Small things seen while trying an appointment as a nurse would (issue 12, item 4): each has
its test here."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import TestCase
from django.urls import reverse

from clinic.permissions import role_can
from clinic.templatetags.text import email_breaks
from clinic.tenancy import clinic_context
from consent.models import ConsentRequest
from tests import factories as f
from tests.conftest import ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def url(name, clinic, **kw):
    return reverse(name, kwargs={"clinic_slug": clinic.slug, **kw})


@pytest.mark.parametrize(
    "typed", ["4 Jun 1982", "04/06/1982", "1982-06-04", "4 June 1982", "04 jun 1982", "4-Jun-1982"]
)
def test_search_by_a_date_the_way_the_app_prints_it_finds_the_patient(cast, typed):
    f.make_patient(cast.clinic_a, cast.admin, last_name="Okafor", date_of_birth=date(1982, 6, 4))
    f.make_patient(cast.clinic_a, cast.admin, last_name="Other", date_of_birth=date(1982, 6, 5))
    page = f.verified_client(cast.reception).get(url("patient_list", cast.clinic_a), {"q": typed})
    assert "Okafor" in page.content.decode()
    assert "Other, Joanne" not in page.content.decode()


def test_a_date_that_does_not_exist_is_searched_as_text_and_finds_nothing(cast):
    f.make_patient(cast.clinic_a, cast.admin, date_of_birth=date(1982, 6, 4))
    page = f.verified_client(cast.reception).get(
        url("patient_list", cast.clinic_a), {"q": "31 Feb 1982"}
    )
    assert page.status_code == 200
    assert "No patient matches" in page.content.decode()


def _recent_names(cast) -> list[str]:
    page = f.verified_client(cast.practitioner).get(url("dashboard", cast.clinic_a))
    return re.findall(r"<strong>(\w+), \w+</strong>", page.content.decode())


def test_a_new_photo_moves_the_patient_to_the_top_of_recently_updated(cast):
    older = f.make_patient(cast.clinic_a, cast.admin, last_name="Older")
    f.make_patient(cast.clinic_a, cast.admin, last_name="Newer")
    assert _recent_names(cast)[0] == "Newer"
    episode = f.make_episode(cast.clinic_a, older, cast.practitioner)
    assert _recent_names(cast)[0] == "Older"  # a treatment already counted
    f.make_patient(cast.clinic_a, cast.admin, last_name="Newest")
    f.make_ready_photo(cast.clinic_a, older, episode, cast.practitioner)
    assert _recent_names(cast)[0] == "Older"


def test_a_signature_moves_the_patient_to_the_top_of_recently_updated(cast):
    signer = f.make_patient(cast.clinic_a, cast.admin, last_name="Signer", email="s@example.org")
    f.make_patient(cast.clinic_a, cast.admin, last_name="Newer")
    assert _recent_names(cast)[0] == "Newer"
    f.make_signed_consent(cast.clinic_a, signer, cast.practitioner)
    assert _recent_names(cast)[0] == "Signer"


def _css_var(name: str) -> str:
    css = (ROOT / "static" / "css" / "app.css").read_text()
    return re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", css).group(1).lower()


def _hue(hex_colour: str) -> float:
    import colorsys

    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def test_the_focus_ring_is_distinct_from_the_error_colour():
    focus, danger = _css_var("focus"), _css_var("danger")
    assert focus != danger
    # Not just a different shade: a different hue (red-orange focus rings read as errors).
    distance = abs(_hue(focus) - _hue(danger))
    assert min(distance, 360 - distance) > 90


def test_after_sending_a_consent_form_the_confirmation_is_in_the_consent_section(cast):
    """The page opens at #consent, so the answer must be there, not in the top bar."""
    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    client = f.verified_client(cast.practitioner)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(url("consent_request", cast.clinic_a, patient_id=patient.pk))
    assert response["Location"].endswith("#consent")
    html = client.get(response["Location"]).content.decode()
    section = html[html.index('id="consent"') :]
    assert "Consent request e-mailed to joanne@example.com" in section
    assert html.count("Consent request e-mailed") == 1


def test_sending_without_an_email_address_says_so_in_the_consent_section(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="")
    client = f.verified_client(cast.practitioner)
    response = client.post(url("consent_request", cast.clinic_a, patient_id=patient.pk))
    html = client.get(response["Location"]).content.decode()
    section = html[html.index('id="consent"') :]
    assert "notice--error consent-notice" in section


def test_marketing_menu_offers_only_the_uses_the_patient_consents_to(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="m@example.org")
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    detail = url("photo_detail", cast.clinic_a, photo_id=photo.pk)
    html = client.get(detail).content.decode()
    assert 'id="marketing-use"' not in html
    assert "has not consented to any marketing use" in html
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    html = client.get(detail).content.decode()
    menu = re.search(r'<select id="marketing-use".*?</select>', html, re.S).group(0)
    assert re.findall(r'value="(\w+)"', menu) == ["website"]


def test_long_email_addresses_break_only_at_their_joints():
    html = str(email_breaks("joanne.very-long_name@harbour-aesthetics.example"))
    assert html == (
        "joanne.<wbr>very-<wbr>long_<wbr>name<wbr>@harbour-<wbr>aesthetics.<wbr>example"
    )
    assert str(email_breaks('<b>"x"@y')) == "&lt;b&gt;&quot;x&quot;<wbr>@y"


def test_the_patient_page_shows_the_email_with_break_points(cast):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, email="joanne.smith@a-very-long-clinic-domain.example"
    )
    html = (
        f.verified_client(cast.reception)
        .get(url("patient_detail", cast.clinic_a, patient_id=patient.pk))
        .content.decode()
    )
    assert 'class="email">joanne.<wbr>smith<wbr>@a-' in html


def test_reception_sends_a_consent_form_but_sees_no_photos_and_records_no_withdrawal(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    client = f.verified_client(cast.reception)
    page = client.get(url("patient_detail", cast.clinic_a, patient_id=patient.pk))
    html = page.content.decode()
    assert "Send consent form" in html
    assert 'id="photos"' not in html
    response = client.post(url("consent_request", cast.clinic_a, patient_id=patient.pk))
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        assert ConsentRequest.objects.filter(patient=patient, sent_by=cast.reception).exists()
    assert (
        client.get(
            url("consent_record_withdrawal", cast.clinic_a, patient_id=patient.pk)
        ).status_code
        == 403
    )
    assert role_can("reception", "consent.request")
    assert not role_can("reception", "consent.send")


def test_reception_from_another_clinic_cannot_send_a_consent_form(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    client = f.verified_client(cast.stranger)
    response = client.post(url("consent_request", cast.clinic_b, patient_id=patient.pk))
    assert response.status_code == 404
