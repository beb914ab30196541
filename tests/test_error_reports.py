"""Error reports to Sentry leave the clinic's network, so nothing that names a patient or a
member of staff, and no link token, goes with them; without SENTRY_DSN nothing is sent at all.
The scrubber is tested directly, on events shaped as sentry-sdk's Django, Celery and logging
integrations make them: no network."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

from config.sentry import scrub, scrub_text
from tests.conftest import ROOT

TOKEN = "Zq3vN8xWk2LmP5rT7yB9cD4fG6hJ1sA0eU_iO-pQ"
PATIENT_EMAIL = "jo.bloggs+botox@example.co.uk"
STAFF_EMAIL = "alice@harbour-clinic.example"
CLIENT_IP = "81.2.69.160"


def django_event() -> dict:
    """An error in a view as sentry-sdk's Django integration reports it (before our scrub)."""
    return {
        "level": "error",
        "logger": "django.request",
        "message": f"Internal Server Error: /p/harbour-clinic/sign/{TOKEN}/",
        "logentry": {
            "message": "Internal Server Error: %s",
            "params": [f"/p/harbour-clinic/sign/{TOKEN}/"],
        },
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"no patient with e-mail {PATIENT_EMAIL} from {CLIENT_IP}",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "patients/services.py",
                                "function": "patient_create",
                                "lineno": 42,
                                "vars": {"email": PATIENT_EMAIL, "name": "Jo Bloggs"},
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "method": "POST",
            "url": f"https://clinic.example/p/harbour-clinic/sign/{TOKEN}/?next=/x#top",
            "query_string": f"q=Jo+Bloggs&next=%2Finvite%2Fharbour-clinic%2F{TOKEN}%2F",
            "data": {"typed_name": "Jo Bloggs", "date_of_birth": "1985-03-14"},
            "cookies": {"sessionid": "s3ss10n", "csrftoken": "csrf"},
            "headers": {
                "Cookie": "sessionid=s3ss10n",
                "Authorization": "Bearer scrape-me",
                "X-Forwarded-For": CLIENT_IP,
                "Referer": f"https://clinic.example/invite/harbour-clinic/{TOKEN}/",
                "User-Agent": "Mozilla/5.0 (iPhone)",
                "X-Request-Id": "a1b2c3d4e5f6",
            },
            "env": {"REMOTE_ADDR": CLIENT_IP, "SERVER_NAME": "web"},
        },
        "user": {"id": "7d0c1f2e", "email": STAFF_EMAIL, "ip_address": CLIENT_IP},
        "breadcrumbs": {
            "values": [
                {"category": "query", "message": f"SELECT ... WHERE email = '{PATIENT_EMAIL}'"},
                {"category": "clinic.outbox", "message": f"sent invitation to {STAFF_EMAIL}"},
            ]
        },
        "extra": {"celery-job": {"task_name": "accounts.tasks.send_invitation", "kwargs": {}}},
        "tags": {"client": CLIENT_IP},
        "contexts": {"runtime": {"name": "CPython", "version": "3.11.2"}},
        "sdk": {"name": "sentry.python.django", "version": "2.76.0"},
    }


def test_the_request_keeps_only_what_names_no_one():
    request = scrub(django_event())["request"]
    assert request["method"] == "POST"
    assert request["url"] == "https://clinic.example/p/harbour-clinic/sign/[redacted]/"
    # A search is a patient's name: the keys stay, their values go.
    assert request["query_string"] == "q=[Filtered]&next=[Filtered]"
    assert "data" not in request and "cookies" not in request and "env" not in request
    assert request["headers"] == {
        "User-Agent": "Mozilla/5.0 (iPhone)",
        "X-Request-Id": "a1b2c3d4e5f6",
    }


def test_the_user_is_an_id_at_most():
    assert scrub(django_event())["user"] == {"id": "7d0c1f2e"}
    event = django_event()
    event["user"] = {"email": STAFF_EMAIL, "ip_address": CLIENT_IP}
    assert scrub(event)["user"] == {}


def test_no_email_address_token_or_client_address_is_left_anywhere():
    sent = json.dumps(scrub(django_event()))
    for secret in (PATIENT_EMAIL, STAFF_EMAIL, TOKEN, CLIENT_IP, "Jo Bloggs", "s3ss10n"):
        assert secret not in sent, secret
    assert "1985-03-14" not in sent and "scrape-me" not in sent


def test_messages_and_exceptions_keep_their_sense():
    event = scrub(django_event())
    assert event["exception"]["values"][0]["value"] == "no patient with e-mail [email] from [ip]"
    assert "vars" not in event["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert event["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"] == 42
    assert event["message"] == "Internal Server Error: /p/harbour-clinic/sign/[redacted]/"
    crumbs = [crumb["message"] for crumb in event["breadcrumbs"]["values"]]
    assert crumbs == ["SELECT ... WHERE email = '[email]'", "sent invitation to [email]"]
    # What describes the machine, not the people, is left alone.
    assert event["contexts"] == django_event()["contexts"]
    assert event["sdk"]["version"] == "2.76.0"


def test_an_event_without_a_request_or_user_passes_through():
    event = {"message": "beat could not reach 10.0.0.5:6379", "level": "error"}
    assert scrub(copy.deepcopy(event)) == {
        "message": "beat could not reach [ip]:6379",
        "level": "error",
    }


def test_times_versions_and_ipv6_addresses_are_told_apart():
    text = "at 12:30:45 with 2.76.0 from [2001:db8::7]:443 and ::ffff:192.168.1.4"
    assert scrub_text(text) == "at 12:30:45 with 2.76.0 from [[ip]]:443 and [ip]"


def test_sentry_is_off_without_a_dsn_and_on_with_one_without_personal_data():
    probe = (
        "import django; django.setup(); import sentry_sdk; "
        "client = sentry_sdk.get_client(); "
        "print(client.is_active(), client.options['send_default_pii'], "
        "client.options['include_local_variables'], client.options['max_request_body_size'], "
        "client.options['before_send'].__module__ if client.is_active() else None)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"

    def run(extra: dict) -> str:
        result = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert run({}).startswith("False")
    # A DSN on a closed loopback port: nothing is sent by starting up.
    on = run({"SENTRY_DSN": "http://public@127.0.0.1:9/1"})
    assert on == "True False False never config.sentry"
