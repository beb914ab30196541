"""Bad input never reaches a 500: a clinic admin (or someone probing) who puts a NUL byte, CR/LF,
a very long or a non-UTF-8 value into any query parameter the app reads gets a page or a
clear 400, never an error page."""

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.forms import LogFilterForm
from photos.selectors import FILTERS
from tests import factories as f
from tests.clinic import test_cross_clinic
from tests.clinic.test_cross_clinic import MATRIX

# Clinic A's patient, episode, photo, consent, marketing item and membership, with real ids.
clinic_a_objects = test_cross_clinic.clinic_a_objects

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "clinic",
    "accounts",
    "links",
    "patients",
    "photos",
    "consent",
    "audit",
    "exports",
    "comparisons",
)

# Every query parameter a view reads. The test below keeps this list in step with the code.
GET_PARAMETERS = (
    {
        "q",
        "archived",
        "page",
        "layout",
        "ids",
        "area",
        "view",
        "use",
        "next",
        "correct",
        "before",
        "after",
        "grant",
    }
    | set(FILTERS)
    | set(LogFilterForm.base_fields)
)

# Public URLs (no clinic slug) with the arguments they need; tokens are deliberately bogus.
PUBLIC_URLS = {
    "home": lambda o: {},
    "login": lambda o: {},
    "logout": lambda o: {},
    "two_factor_setup": lambda o: {},
    "two_factor_verify": lambda o: {},
    "backup_codes": lambda o: {},
    "account": lambda o: {},
    "accept_invitation": lambda o: {"clinic": o["clinic"].slug, "token": "x" * 43},
    "consent_sign_start": lambda o: {"clinic": o["clinic"].slug, "token": "x" * 43},
    "consent_sign": lambda o: {"clinic": o["clinic"].slug},
    "clinic_logo": lambda o: {"clinic": o["clinic"].slug},
    "export_keys": lambda o: {"clinic": o["clinic"].slug},
    "export_key_pem": lambda o: {"clinic": o["clinic"].slug, "fingerprint": "0" * 64},
    "consent_signed": lambda o: {"clinic": o["clinic"].slug},
    "consent_signed_copy": lambda o: {"clinic": o["clinic"].slug},
    "consent_withdraw_start": lambda o: {"clinic": o["clinic"].slug, "token": "x" * 43},
    "consent_withdraw": lambda o: {"clinic": o["clinic"].slug},
    "comparison_share_start": lambda o: {"clinic": o["clinic"].slug, "token": "x" * 43},
    "comparison_shared": lambda o: {"clinic": o["clinic"].slug},
    "comparison_shared_image": lambda o: {"clinic": o["clinic"].slug},
    "comparison_shared_pdf": lambda o: {"clinic": o["clinic"].slug},
}

BAD_VALUES = {
    "nul": quote("a\x00"),
    "nul_after_a_valid_area": quote("lips\x00"),
    "cr_lf": quote("/c/\r\nSet-Cookie: stolen=1"),
    "very_long": "a" * 8000,
    "many_digits": "9" * 5000,
    "not_utf8": "%FF%FE%C3%28",
    "lone_surrogate_escape": "%ED%A0%80",
}


def read_parameters() -> set[str]:
    """The query parameters the views read, found in the source."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            text = path.read_text()
            found |= set(re.findall(r"request\.GET\.get\(\s*\"(\w+)\"", text))
            found |= set(re.findall(r"request\.GET\[\s*\"(\w+)\"\s*\]", text))
            if "clean_filters(request.GET)" in text:
                found |= set(FILTERS)
            if "LogFilterForm(request.GET" in text:
                found |= set(LogFilterForm.base_fields)
            if 'request.GET.get("next")' in text:
                found.add("next")
    return found


def all_url_names() -> set[str]:
    names = set()

    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


def test_the_parameter_list_is_every_parameter_the_views_read():
    assert read_parameters() == GET_PARAMETERS, (
        "A view reads a query parameter this test does not send: add it to GET_PARAMETERS"
    )


def test_every_url_is_tried():
    assert all_url_names() == set(MATRIX) | set(PUBLIC_URLS)


def _urls(cast, objects) -> list[str]:
    objects = {**objects, "clinic": cast.clinic_a}
    urls = [reverse(name, kwargs=build(objects)) for name, build in sorted(PUBLIC_URLS.items())]
    for name, build in sorted(MATRIX.items()):
        urls.append(reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **build(objects)}))
    return urls


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_a_bad_value_in_any_query_parameter_is_never_a_server_error(
    cast,
    clinic_a_objects,
    kind,
):
    client = f.verified_client(cast.admin)
    client.raise_request_exception = False
    query = "&".join(f"{name}={BAD_VALUES[kind]}" for name in sorted(GET_PARAMETERS))
    failures = []
    for url in _urls(cast, clinic_a_objects):
        response = client.get(f"{url}?{query}")
        if response.status_code >= 500:
            failures.append(f"{url}: {response.status_code}")
        if kind.startswith("nul"):
            assert response.status_code == 400, url
        assert "stolen" not in response.headers.get("Set-Cookie", "")
        assert "\n" not in response.headers.get("Location", "")
    assert not failures, failures


def test_a_nul_byte_in_the_patient_search_gets_a_clear_400(cast):
    client = f.verified_client(cast.admin)
    response = client.get(
        reverse("patient_list", kwargs={"clinic_slug": cast.clinic_a.slug}) + "?q=a%00"
    )
    assert response.status_code == 400
    assert "control character" in response.content.decode()


def test_a_nul_byte_in_the_ghost_area_gets_a_400(cast, clinic_a_objects):
    client = f.verified_client(cast.practitioner)
    url = reverse(
        "photo_ghost",
        kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": clinic_a_objects["patient"].pk},
    )
    assert client.get(url + "?area=lips%00&view=front").status_code == 400
    assert client.get(url + "?area=lips&view=front").status_code == 200


def test_a_nul_byte_in_a_form_field_is_refused_and_nothing_is_stored(cast):
    from clinic.tenancy import clinic_context
    from patients.models import Patient

    client = f.verified_client(cast.reception)
    response = client.post(
        reverse("patient_create", kwargs={"clinic_slug": cast.clinic_a.slug}),
        {"first_name": "Nul\x00la", "last_name": "Smith", "date_of_birth": "1990-01-01"},
    )
    assert response.status_code == 400
    with clinic_context(cast.clinic_a.id):
        assert not Patient.objects.filter(last_name="Smith", clinic=cast.clinic_a).exists()


def test_a_nul_byte_in_the_sign_in_form_or_session_cookie_is_a_400_not_a_500(cast):
    client = Client(raise_request_exception=False)
    response = client.post(reverse("login"), {"email": "a\x00@example.com", "password": "x"})
    assert response.status_code == 400
    client.cookies["sessionid"] = "abcdefghij\x00"
    assert client.get(reverse("home")).status_code == 400


def test_cr_lf_in_next_after_sign_in_is_ignored(cast):
    client = Client()
    response = client.post(
        reverse("login") + "?next=" + quote("/account/\r\nSet-Cookie: stolen=1"),
        {"email": cast.practitioner.email, "password": f.PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor_verify")


def test_next_to_another_site_is_ignored_and_a_good_one_is_kept_encoded(cast):
    client = Client()
    response = client.post(
        reverse("login") + "?next=https://evil.example/",
        {"email": cast.practitioner.email, "password": f.PASSWORD},
    )
    assert response["Location"] == reverse("two_factor_verify")
    client = Client()
    response = client.post(
        reverse("login") + "?next=" + quote("/account/?a=1&b=2"),
        {"email": cast.practitioner.email, "password": f.PASSWORD},
    )
    assert (
        response["Location"] == reverse("two_factor_verify") + "?next=%2Faccount%2F%3Fa%3D1%26b%3D2"
    )
