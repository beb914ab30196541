"""HTTPS as clinics get it: Caddy on deploy/Caddyfile in front of gunicorn on
deploy/gunicorn.conf.py with production settings (tests/https_stack.py). Plain HTTP is
redirected; staff sign in over HTTPS with cookies that never travel in clear; the lockout
counts the real client behind the proxy, so one client's failures lock out only that client;
a download that takes a minute is not cut off."""

import http.client
import json
import os
import random
import runpy
import subprocess
import time

import pytest
from axes.models import AccessAttempt

from audit.models import AuditEvent
from clinic.models import Role
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.conftest import ROOT
from tests.https_app import CHUNK, SLOW_DOWNLOAD
from tests.https_stack import (
    HttpsClient,
    HttpsStack,
    caddy_binary,
    free_port,
    location,
    production_password,
    set_cookies,
)


@pytest.fixture(scope="module")
def https_stack(django_db_setup, test_db_name, s3_server, tmp_path_factory):
    stack = HttpsStack(
        tmp_path_factory.mktemp("https-stack"),
        db_name=test_db_name,
        s3_server=s3_server,
        email_url="memorymail://",
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


def loopback_address() -> str:
    """A loopback address of this test's own (127.0.0.0/8 is all this machine), so that no
    other test's sign-in failures count with its."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def client(stack: HttpsStack, source: str = "127.0.0.1") -> HttpsClient:
    return HttpsClient(stack.url, ca=stack.certificates.ca, source=source)


@pytest.fixture
def practitioner(committed_db):
    clinic = f.make_clinic("Harbour Aesthetics")
    user = f.make_member(clinic, Role.PRACTITIONER, "Paula Practitioner")
    production_password(user, f.PASSWORD)
    return clinic, user


def test_plain_http_is_redirected_to_https(https_stack):
    connection = http.client.HTTPConnection("127.0.0.1", https_stack.http_port, timeout=10)
    connection.request(
        "GET", "/login/?next=/", headers={"Host": f"localhost:{https_stack.http_port}"}
    )
    response = connection.getresponse()
    assert response.status in (301, 308)
    # To the standard HTTPS port, where compose publishes Caddy's HTTPS_PORT (443).
    assert response.getheader("Location") == "https://localhost/login/?next=/"


def test_staff_sign_in_over_https_with_cookies_that_never_travel_in_clear(
    https_stack, practitioner
):
    clinic, user = practitioner
    browser = client(https_stack)
    status, headers, _ = browser.request("/login/")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "; secure" in set_cookies(headers)["csrftoken"].lower()

    status, headers, _ = browser.sign_in(user.email, f.PASSWORD)
    assert (status, location(headers)) == (302, "/two-factor/")
    session = set_cookies(headers)["sessionid"].lower()
    assert "; secure" in session and "; httponly" in session

    status, headers, _ = browser.request("/two-factor/", {"token": f.totp_now(user)})
    assert status == 302
    status, _, body = browser.request(f"/c/{clinic.slug}/")
    assert status == 200 and b"Harbour Aesthetics" in body
    with clinic_context(clinic.id):
        (signed_in,) = AuditEvent.objects.filter(clinic=clinic, action="auth.login")
    assert signed_in.ip == "127.0.0.1"


def test_a_client_that_fails_five_times_is_locked_out_and_no_one_else(https_stack, practitioner):
    clinic, user = practitioner
    attacker, colleague = loopback_address(), loopback_address()
    guesser = client(https_stack, source=attacker)
    # Whatever the client claims to be, Caddy tells the app the address it connected from.
    guesser.headers["X-Forwarded-For"] = "203.0.113.99"
    statuses = [guesser.sign_in(user.email, "not-the-password")[0] for _ in range(5)]
    # The fifth failure is the one that locks.
    assert statuses == [200, 200, 200, 200, 429]
    status, _, body = guesser.sign_in(user.email, f.PASSWORD)
    assert status == 429 and b"Sign-in paused" in body

    status, headers, _ = client(https_stack, source=colleague).sign_in(user.email, f.PASSWORD)
    assert (status, location(headers)) == (302, "/two-factor/")

    (attempt,) = AccessAttempt.objects.filter(username=user.email)
    assert attempt.ip_address == attacker and attempt.failures_since_start >= 5
    with clinic_context(clinic.id):
        failed = AuditEvent.objects.filter(clinic=clinic, action="auth.login_failed")
        assert {event.ip for event in failed} == {attacker}
        locked = AuditEvent.objects.filter(clinic=clinic, action="auth.locked_out")
        assert {event.ip for event in locked} == {attacker}


def test_a_download_that_takes_a_minute_is_not_cut_off(https_stack):
    # gunicorn kills a worker silent for 30 s (deploy/gunicorn.conf.py): a sync worker busy
    # with one response is silent; a gthread worker is not.
    seconds = 60
    started = time.monotonic()
    status, headers, body = client(https_stack).request(
        f"{SLOW_DOWNLOAD}?seconds={seconds}", timeout=seconds + 30
    )
    took = time.monotonic() - started
    assert status == 200
    assert len(body) == seconds * CHUNK == int(headers["Content-Length"])
    assert took >= seconds - 1


def test_tls_internal_serves_a_clinic_lan_from_caddys_own_authority(https_stack, committed_db):
    http_port, https_port = free_port(), free_port()
    https_stack.start_caddy(
        "caddy-internal", tls="internal", http_port=http_port, https_port=https_port
    )
    root = https_stack.caddy_data("caddy-internal") / "pki" / "authorities" / "local" / "root.crt"
    deadline = time.monotonic() + 30
    while True:
        try:
            lan = HttpsClient(f"https://localhost:{https_port}", ca=root)
            status, _, body = lan.request("/healthz")
            break
        except (OSError, http.client.HTTPException):
            # The authority and the site's certificate are made as Caddy starts.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert lan.request("/login/")[0] == 200


def adapted(**env) -> dict:
    """deploy/Caddyfile as Caddy reads it with compose's environment (no network needed)."""
    done = subprocess.run(
        [caddy_binary(), "adapt", "--config", str(ROOT / "deploy" / "Caddyfile")],
        env={"PATH": os.environ["PATH"], "UPSTREAM": "web:8000", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_caddyfile_serves_each_way_a_clinic_gets_a_certificate():
    public = adapted(SITE_ADDRESS="photos.harbour-clinic.example", TLS="it@harbour-clinic.example")
    (policy,) = public["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["photos.harbour-clinic.example"]
    assert {issuer["module"] for issuer in policy["issuers"]} >= {"acme"}
    assert all(issuer.get("email") == "it@harbour-clinic.example" for issuer in policy["issuers"])

    lan = adapted(SITE_ADDRESS="clinic.lan, 192.168.1.20", TLS="internal")
    (policy,) = lan["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"] == [{"module": "internal"}]
    # Caddy's authority is never put into the trust store of the machine it runs on.
    assert lan["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False

    given = adapted(SITE_ADDRESS="clinic.lan", TLS="/certs/cert.pem /certs/key.pem")
    (loaded,) = given["apps"]["tls"]["certificates"]["load_files"]
    assert (loaded["certificate"], loaded["key"]) == ("/certs/cert.pem", "/certs/key.pem")

    for config in (public, lan, given):
        (server,) = config["apps"]["http"]["servers"].values()
        assert server["listen"] == [":443"]
        (proxy,) = server["routes"][0]["handle"][0]["routes"][0]["handle"]
        assert proxy["upstreams"] == [{"dial": "web:8000"}] and proxy["flush_interval"] == -1
        # Shorter than gunicorn's keepalive (75 s): the proxy lets idle connections go first.
        assert proxy["transport"]["keep_alive"]["idle_timeout"] == 60_000_000_000


def test_gunicorn_serves_in_threads_and_outlasts_the_proxys_idle_connections():
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    # Threads: a long response does not silence the worker's heartbeat (see the download test).
    assert config["worker_class"] == "gthread" and config["threads"] >= 2
    assert config["timeout"] == 30
    # Caddy drops an idle upstream connection after 60 s; gunicorn keeps it longer.
    assert config["keepalive"] > 60
