"""Pages a patient opens without an account all come in through one entry: the clinic from
the URL (unknown: 404), its context open, and no page cached or leaking a token by Referer."""

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

pytestmark = pytest.mark.django_db

# The logo is public on purpose (it is on every e-mail and PDF) and may be cached.
NOT_PATIENT_PAGES = {"clinic_logo", "export_keys", "export_key_pem"}
# Public, not a patient's, but still through the one entry (an unknown clinic is a 404).
KEY_PAGES = {"export_keys", "export_key_pem"}
PAGES = [
    ("consent_sign_start", {"token": "not-a-real-token"}, "no-referrer"),
    ("consent_sign", {}, "same-origin"),
    ("consent_signed", {}, "same-origin"),
    ("consent_signed_copy", {}, "same-origin"),
    ("consent_withdraw_start", {"token": "not-a-real-token"}, "no-referrer"),
    ("consent_withdraw", {}, "same-origin"),
    ("comparison_share_start", {"token": "not-a-real-token"}, "no-referrer"),
    ("comparison_shared", {}, "same-origin"),
    ("comparison_shared_image", {}, "same-origin"),
    ("comparison_shared_pdf", {}, "same-origin"),
]


def test_every_public_patient_page_comes_through_the_one_entry():
    public = [
        p for p in get_resolver().url_patterns if str(p.pattern).startswith("p/<slug:clinic>/")
    ]
    names = {p.name for p in public} - NOT_PATIENT_PAGES
    assert names == {name for name, _, _ in PAGES}
    for pattern in public:
        if pattern.name not in NOT_PATIENT_PAGES or pattern.name in KEY_PAGES:
            assert getattr(pattern.callback, "public_page", False), pattern.name


@pytest.mark.parametrize("name,kwargs,referrer", PAGES)
def test_public_pages_are_never_cached_and_keep_tokens_out_of_referers(
    cast, name, kwargs, referrer
):
    response = Client().get(reverse(name, kwargs={"clinic": cast.clinic_a.slug, **kwargs}))
    assert response.status_code in (400, 404)
    assert cast.clinic_a.name in response.content.decode()  # the clinic's own problem page
    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache
    assert response["Referrer-Policy"] == referrer


@pytest.mark.parametrize("name,kwargs,referrer", PAGES)
def test_an_unknown_clinic_is_a_plain_404(db, name, kwargs, referrer):
    response = Client().get(reverse(name, kwargs={"clinic": "no-such-clinic", **kwargs}))
    assert response.status_code == 404
