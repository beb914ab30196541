"""A wrong or missing master key on the web tier is the operator's error: photo pages answer
503 with a page that says so, the error is logged, nothing is put on record against the
practitioner who asked, and /healthz?full=1 reports it. Real photos, stored under the right
key, read with a wrong one."""

from __future__ import annotations

import base64
import logging

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos.models import Photo
from tests import factories as f
from tests.clinic.test_health import OPERATOR
from tests.photos.test_photo_pages import jpeg, upload
from vault import keys

pytestmark = pytest.mark.django_db

WRONG_KEY = base64.b64encode(b"w" * 32).decode()


@pytest.fixture
def stored(cast):
    """A ready photo, stored and encrypted under the configured master key; then the process
    forgets the clinic key it unwrapped, as a freshly started web worker would have."""
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner, areas=["lips"])
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    keys.forget_cached_keys()
    yield cast, patient, episode, photo
    keys.forget_cached_keys()


def denials(clinic) -> int:
    with clinic_context(clinic.id):
        return AuditEvent.objects.filter(clinic=clinic, action="access.denied").count()


def photo_url(name: str, cast, photo) -> str:
    return reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk})


def assert_key_problem_page(response) -> None:
    assert response.status_code == 503
    page = response.content.decode()
    assert "master key" in page.lower() and "not something you did" in page
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("master_key", [WRONG_KEY, ""], ids=["wrong", "missing"])
@pytest.mark.parametrize("rendition", ["photo_display", "photo_thumb", "photo_original"])
def test_a_wrong_master_key_answers_photo_views_503_and_blames_no_practitioner(
    stored, caplog, master_key, rendition
):
    cast, _, _, photo = stored
    client = f.verified_client(cast.practitioner)
    before = denials(cast.clinic_a)
    with (
        override_settings(MASTER_KEY=master_key),
        caplog.at_level(logging.ERROR, logger="vault.middleware"),
    ):
        response = client.get(photo_url(rendition, cast, photo))
    assert_key_problem_page(response)
    assert denials(cast.clinic_a) == before
    (line,) = [r for r in caplog.records if r.name == "vault.middleware"]
    assert line.levelno == logging.ERROR and "MASTER_KEY" in line.getMessage()


def test_the_right_master_key_still_shows_the_photo(stored):
    cast, _, _, photo = stored
    response = f.verified_client(cast.practitioner).get(photo_url("photo_display", cast, photo))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_a_photo_of_another_clinic_is_still_a_404_on_record(stored, cast):
    _, _, _, photo = stored
    outsider = f.make_member(cast.clinic_b, "practitioner")
    client = f.verified_client(outsider)
    url = reverse("photo_display", kwargs={"clinic_slug": cast.clinic_b.slug, "photo_id": photo.pk})
    before = denials(cast.clinic_b)
    assert client.get(url).status_code == 404
    assert denials(cast.clinic_b) == before + 1


def test_an_upload_under_a_wrong_master_key_is_a_503_page_not_a_bare_500(stored, caplog):
    cast, patient, episode, _ = stored
    client = f.verified_client(cast.practitioner)
    with clinic_context(cast.clinic_a.id):
        photos_before = Photo.objects.filter(patient=patient).count()
    with (
        override_settings(MASTER_KEY=WRONG_KEY),
        caplog.at_level(logging.ERROR, logger="vault.middleware"),
    ):
        response = upload(client, cast.clinic_a, patient, episode, [("lips.jpg", jpeg())])
    assert_key_problem_page(response)
    assert any(r.name == "vault.middleware" for r in caplog.records)
    with clinic_context(cast.clinic_a.id):
        assert Photo.objects.filter(patient=patient).count() == photos_before


def test_the_health_check_reports_a_wrong_master_key(stored, caplog):
    def full():
        return Client(REMOTE_ADDR=OPERATOR).get("/healthz?full=1")

    assert full().json()["keys"] == "ok"
    with (
        override_settings(MASTER_KEY=WRONG_KEY),
        caplog.at_level(logging.ERROR, logger="config.health"),
    ):
        response = full()
    assert response.status_code == 503
    assert response.json()["keys"] == "misconfigured"
    assert any("not configured" in r.getMessage() for r in caplog.records)


def test_the_health_check_reports_a_missing_master_key(stored):
    with override_settings(MASTER_KEY=""):
        response = Client(REMOTE_ADDR=OPERATOR).get("/healthz?full=1")
    assert response.status_code == 503
    assert response.json()["keys"] == "misconfigured"


def test_restore_check_names_a_wrong_master_key_once_instead_of_crashing(stored, capsys):
    cast, _, _, _ = stored
    with override_settings(MASTER_KEY=WRONG_KEY), pytest.raises(SystemExit) as exited:
        call_command("restore_check")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert problems == [
        line for line in problems if "the master key" in line and "not configured" in line
    ]
    assert f"PROBLEM {cast.clinic_a.slug}: the master key" in out
    assert sum(cast.clinic_a.slug in line for line in problems) == 1
