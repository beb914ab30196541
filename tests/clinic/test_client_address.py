"""Behind the reverse proxy the app, its audit trail and the sign-in lockout all see the real
client (PROXY_COUNT), never the proxy and never an address the client made up. The same over a
real Caddy and gunicorn: tests/test_https_proxy.py."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from audit.models import AuditEvent
from clinic.proxy import forwarded_client
from clinic.tenancy import clinic_context
from tests import factories as f

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

PROXY = "10.0.0.2"


@pytest.mark.parametrize(
    ("forwarded_for", "proxy_count", "client"),
    [
        ("198.51.100.7", 1, "198.51.100.7"),
        # Whatever the client wrote itself stays left of what the proxy appended.
        ("6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),
        ("6.6.6.6, 198.51.100.7, 10.0.0.9", 2, "198.51.100.7"),
        ("2001:db8::7", 1, "2001:db8::7"),
        # Not through every proxy (the container's healthcheck): the peer is the client.
        ("", 1, PROXY),
        ("198.51.100.7", 2, PROXY),
        ("not-an-address", 1, PROXY),
        # No proxy configured: the header is the client's own word and is ignored.
        ("198.51.100.7", 0, PROXY),
    ],
)
def test_the_client_is_counted_from_the_right_of_x_forwarded_for(
    forwarded_for, proxy_count, client
):
    assert forwarded_client(PROXY, forwarded_for, proxy_count) == client


def sign_in(client: Client, user, password: str):
    return client.post(reverse("login"), {"email": user.email, "password": password})


def behind_proxy(ip: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ip)


@override_settings(PROXY_COUNT=1)
def test_failures_from_one_client_behind_the_proxy_do_not_lock_out_another(cast):
    attacker = behind_proxy("198.51.100.66")
    for _ in range(5):
        sign_in(attacker, cast.practitioner, "wrong-password")
    assert sign_in(attacker, cast.practitioner, f.PASSWORD).status_code == 429
    # The practitioner at the clinic comes through the same proxy from their own address.
    response = sign_in(behind_proxy("203.0.113.10"), cast.practitioner, f.PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("two_factor_verify")


@override_settings(PROXY_COUNT=1)
def test_a_made_up_x_forwarded_for_does_not_escape_the_lockout(cast):
    for n in range(5):
        client = behind_proxy(f"10.9.9.{n}, 198.51.100.67")
        sign_in(client, cast.practitioner, "wrong-password")
    assert sign_in(behind_proxy("198.51.100.67"), cast.practitioner, f.PASSWORD).status_code == 429


@override_settings(PROXY_COUNT=1)
def test_the_audit_trail_names_the_client_behind_the_proxy(cast):
    sign_in(behind_proxy("198.51.100.68"), cast.practitioner, "wrong-password")
    with clinic_context(cast.clinic_a.id):
        (failed,) = AuditEvent.objects.filter(clinic=cast.clinic_a, action="auth.login_failed")
    assert failed.ip == "198.51.100.68"


def test_without_proxy_count_x_forwarded_for_is_ignored(cast):
    sign_in(behind_proxy("198.51.100.69"), cast.practitioner, "wrong-password")
    with clinic_context(cast.clinic_a.id):
        (failed,) = AuditEvent.objects.filter(clinic=cast.clinic_a, action="auth.login_failed")
    assert failed.ip == PROXY
