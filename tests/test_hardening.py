"""Fixes from a security review, each with the test that would have caught it."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from clinic.models import AuthenticatorDevice, Membership, Role
from clinic.tenancy import clinic_context
from config.logging import redact
from patients.models import Patient
from photos.uploads import BoundedMemoryUploadHandler
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_files_posted_to_a_page_that_takes_none_are_never_held(monkeypatch):
    kept = []
    original = BoundedMemoryUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        kept.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(BoundedMemoryUploadHandler, "receive_data_chunk", spy)
    Client().post(
        reverse("login"),
        {
            "email": "a@example.com",
            "password": "x",
            "junk": SimpleUploadedFile("big.bin", b"\0" * 3_000_000),
        },
    )
    assert kept == []


def test_an_admin_cannot_reset_two_factor_of_someone_who_works_elsewhere_too(cast):
    f.add_member(cast.clinic_b, cast.practitioner, Role.PRACTITIONER)
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.practitioner)
    admin = f.verified_client(cast.admin)
    response = admin.post(
        reverse(
            "staff_detail",
            kwargs={"clinic_slug": cast.clinic_a.slug, "membership_id": membership.pk},
        ),
        {"action": "reset_2fa"},
        follow=True,
    )
    assert "also works at another clinic" in response.content.decode()
    assert AuthenticatorDevice.objects.filter(user=cast.practitioner).exists()


def test_an_admin_resets_two_factor_of_someone_who_works_only_here(cast):
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.reception)
    admin = f.verified_client(cast.admin)
    admin.post(
        reverse(
            "staff_detail",
            kwargs={"clinic_slug": cast.clinic_a.slug, "membership_id": membership.pk},
        ),
        {"action": "reset_2fa"},
    )
    assert not AuthenticatorDevice.objects.filter(user=cast.reception).exists()


def test_tokens_are_redacted_when_url_encoded_too():
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    line = redact(f"GET /login/?next=%2Finvite%2Fclinic-a%2F{token}%2F HTTP/1.1")
    assert token not in line and "[redacted]" in line


def test_a_bad_filter_in_the_viewer_url_is_ignored_not_a_500(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    client = f.verified_client(cast.practitioner)
    url = reverse("photo_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk})
    assert client.get(url, {"episode": "notauuid", "area": "<script>"}).status_code == 200
    page = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
    )
    assert client.get(page, {"episode": "x", "stage": "nope"}).status_code == 200


def test_staff_pages_and_sign_in_secrets_are_not_cached(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    page = client.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    )
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in client.get(reverse("account"))["Cache-Control"]


def test_a_newline_in_a_name_is_folded(cast):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, first_name="Jo\r\nBcc: x@evil", last_name="  Smith "
    )
    with clinic_context(cast.clinic_a.id):
        stored = Patient.objects.get(pk=patient.pk)
    assert stored.first_name == "Jo Bcc: x@evil" and stored.last_name == "Smith"
