"""Every e-mail built for a clinic carries the clinic's name as its sender and the clinic's
reply-to address, so a patient asked for their date of birth knows who asks and can answer."""

import ast
import json
import os
import subprocess
import sys
from email.headerregistry import Address

import pytest
from django.core import mail
from django.test import TestCase, override_settings
from django.urls import reverse

from accounts import services as account_services
from audit.models import AuditEvent
from clinic.mail import clinic_sender
from clinic.models import Clinic, Role
from clinic.tenancy import clinic_context
from consent import services as consent_services
from tests import factories as f
from tests.conftest import ROOT
from tests.smtp import body_text, running_smtp_server

pytestmark = pytest.mark.django_db
SENDING_ADDRESS = "no-reply@clinicphotos.example"
FROM = f"Clinic Photos <{SENDING_ADDRESS}>"


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def harbour(cast):
    clinic = cast.clinic_a
    clinic.name = "Harbour Aesthetics, Leeds"
    clinic.reply_to_email = "reception@harbour-aesthetics.example"
    clinic.save(update_fields=["name", "reply_to_email"])
    return clinic


def send_consent_request(clinic, by, email="joanne@example.com"):
    patient = f.make_patient(clinic, by, email=email)
    with TestCase.captureOnCommitCallbacks(execute=True), clinic_context(clinic.id):
        consent_services.request_send(clinic=clinic, patient=patient, by=by)
    return patient


def test_a_consent_email_through_a_real_smtp_server_is_from_the_clinic(cast, harbour, smtp_server):
    smtp = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_server.port,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
    }
    with override_settings(**smtp, DEFAULT_FROM_EMAIL=FROM):
        send_consent_request(harbour, cast.practitioner)
    message = smtp_server.inbox.wait_for("joanne@example.com")
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Harbour Aesthetics, Leeds", SENDING_ADDRESS)
    assert message["Reply-To"].addresses == (
        Address(addr_spec="reception@harbour-aesthetics.example"),
    )
    assert message["Subject"] == "Harbour Aesthetics, Leeds: your consent to clinical photographs"
    assert "date of birth" in body_text(message).lower()


@override_settings(DEFAULT_FROM_EMAIL=FROM)
def test_a_staff_invitation_is_from_the_clinic_too(cast, harbour):
    with TestCase.captureOnCommitCallbacks(execute=True), clinic_context(harbour.id):
        account_services.staff_invite(
            clinic=harbour, email="nadia@example.com", role=Role.PRACTITIONER, invited_by=cast.admin
        )
    (message,) = mail.outbox
    assert message.from_email == f'"Harbour Aesthetics, Leeds" <{SENDING_ADDRESS}>'
    assert message.reply_to == ["reception@harbour-aesthetics.example"]


@override_settings(DEFAULT_FROM_EMAIL=FROM)
def test_without_a_reply_to_address_the_clinic_still_signs_its_mail(cast):
    send_consent_request(cast.clinic_a, cast.practitioner)
    (message,) = mail.outbox
    assert message.from_email == f"Clinic A <{SENDING_ADDRESS}>"
    assert message.reply_to == []


@override_settings(DEFAULT_FROM_EMAIL=SENDING_ADDRESS)
def test_a_name_cannot_break_the_header_and_other_scripts_are_encoded(db):
    clinic = Clinic(name="Clínica Sõ\r\nBcc: everyone@example.com", slug="x")
    sender = clinic_sender(clinic)
    assert "\n" not in sender and "\r" not in sender
    message = mail.EmailMessage("s", "b", from_email=sender, to=["p@example.com"]).message()
    assert message["From"].isascii() and SENDING_ADDRESS in message["From"]
    assert "Bcc" not in message


def test_no_email_leaves_without_the_clinics_name():
    """Mail goes out through clinic.mail only: Django's own senders would use the bare
    DEFAULT_FROM_EMAIL and no Reply-To."""
    senders = {"send_mail", "send_mass_mail", "EmailMessage", "EmailMultiAlternatives"}
    found = []
    for path in ROOT.glob("*/**/*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "tests", "node_modules"} or path == ROOT / "clinic" / "mail.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "django.core.mail":
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if alias.name in senders
                ]
    assert not found, found


# --- the clinic settings page -------------------------------------------------------------------


def settings_url(clinic):
    return reverse("clinic_settings", kwargs={"clinic_slug": clinic.slug})


def test_the_admin_sets_the_reply_to_address_and_it_is_audited(cast):
    response = f.verified_client(cast.admin).post(
        settings_url(cast.clinic_a),
        {"name": "Clinic A", "reply_to_email": "Reception@Clinic-A.example"},
    )
    assert response.status_code == 302
    cast.clinic_a.refresh_from_db()
    assert cast.clinic_a.reply_to_email == "reception@clinic-a.example"
    with clinic_context(cast.clinic_a.id):
        (event,) = AuditEvent.objects.filter(action="clinic.branding_changed")
    assert event.details == {"changed": ["reply-to e-mail"]}


def test_a_bad_reply_to_address_is_refused_and_nothing_changes(cast):
    response = f.verified_client(cast.admin).post(
        settings_url(cast.clinic_a), {"name": "Renamed", "reply_to_email": "reception@"}
    )
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()
    cast.clinic_a.refresh_from_db()
    assert (cast.clinic_a.name, cast.clinic_a.reply_to_email) == ("Clinic A", "")


def test_the_settings_page_shows_the_address_and_clearing_it_removes_it(cast):
    cast.clinic_a.reply_to_email = "old@clinic-a.example"
    cast.clinic_a.save(update_fields=["reply_to_email"])
    admin = f.verified_client(cast.admin)
    assert 'value="old@clinic-a.example"' in admin.get(settings_url(cast.clinic_a)).content.decode()
    admin.post(settings_url(cast.clinic_a), {"name": "Clinic A", "reply_to_email": ""})
    cast.clinic_a.refresh_from_db()
    assert cast.clinic_a.reply_to_email == ""


def test_staff_other_than_the_admin_cannot_change_the_reply_to_address(cast):
    for user in (cast.practitioner, cast.reception, cast.stranger):
        response = f.verified_client(user).post(
            settings_url(cast.clinic_a), {"name": "Clinic A", "reply_to_email": "x@example.com"}
        )
        assert response.status_code in (403, 404)
    cast.clinic_a.refresh_from_db()
    assert cast.clinic_a.reply_to_email == ""


# --- SMTP from compose's .env ---------------------------------------------------------------

EMAIL_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in (
    "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL",
    "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_TIMEOUT")}))
"""


def email_settings(**env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    base.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-c", EMAIL_SETTINGS],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_smtp_comes_from_its_parts_with_the_password_from_a_file(tmp_path):
    password = tmp_path / "smtp-password"
    password.write_text("app-specific-password\n")
    result = email_settings(
        EMAIL_HOST="smtp.provider.example",
        EMAIL_HOST_USER="photos@harbour.example",
        EMAIL_HOST_PASSWORD_FILE=str(password),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.provider.example",
        "EMAIL_PORT": 587,
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_HOST_USER": "photos@harbour.example",
        "EMAIL_HOST_PASSWORD": "app-specific-password",
        "EMAIL_TIMEOUT": 30,
    }


def test_port_465_speaks_tls_at_once_and_both_kinds_at_once_are_refused():
    implicit = json.loads(email_settings(EMAIL_HOST="smtp.x.example", EMAIL_PORT="465").stdout)
    assert (implicit["EMAIL_USE_SSL"], implicit["EMAIL_USE_TLS"]) == (True, False)
    both = email_settings(EMAIL_HOST="smtp.x.example", EMAIL_USE_TLS="1", EMAIL_USE_SSL="1")
    assert both.returncode != 0 and "Set one of EMAIL_USE_TLS" in both.stderr
