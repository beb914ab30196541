"""/healthz answers the container healthcheck under production settings, whatever the host;
/healthz?full=1 tells the operator which service is down, and nobody else anything."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import Client, override_settings

from tests.conftest import ROOT, _free_port

# Production settings as docker-compose runs them, with an in-memory database so the probe's
# query has something to answer it.
PRODUCTION_ENV = {
    "DJANGO_PRODUCTION": "1",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k" * 20 + "production-secret-from-the-environment-0123456789",
    "MASTER_KEY": "dGVzdC1wcm9kdWN0aW9uLW1hc3Rlci1rZXktMzJieSE=",
    "AUDIT_CHECKPOINT_KEY": "c" * 20 + "checkpoint-signing-key-of-its-own",
    "DJANGO_ALLOWED_HOSTS": "clinic.example",
    "SECURE_SSL_REDIRECT": "1",
    "DATABASE_URL": "sqlite://:memory:",
}

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
# Error pages link static files; the image has their manifest (collectstatic), this tree not.
plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()
client = Client()
def ask(path, host):
    response = client.get(path, HTTP_HOST=host)
    return [response.status_code, response.get("Location"), response.content.decode()[:200]]
print(json.dumps({
    "middleware": settings.MIDDLEWARE,
    "healthz_loopback": ask("/healthz", "127.0.0.1:8000"),
    "healthz_any_host": ask("/healthz", "somewhere.else"),
    "login_loopback": ask("/login/", "127.0.0.1:8000"),
    "login_allowed_host": ask("/login/", "clinic.example"),
}))
"""


@pytest.fixture(scope="module")
def production_probe() -> dict:
    drop = {"DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL", "S3_BUCKET", "DATABASE_APP_ROLE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**env, **PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_healthz_answers_a_loopback_probe_under_ssl_redirect_and_other_hosts(production_probe):
    status, location, body = production_probe["healthz_loopback"]
    assert (status, location) == (200, None)
    assert json.loads(body) == {"status": "ok"}
    assert production_probe["healthz_any_host"][0] == 200


def test_only_healthz_skips_host_validation_and_the_https_redirect(production_probe):
    # The same settings still refuse an unknown host and redirect plain HTTP everywhere else.
    assert production_probe["login_loopback"][0] == 400
    status, location, _ = production_probe["login_allowed_host"]
    assert status == 301 and location == "https://clinic.example/login/"


def test_healthz_comes_before_every_other_middleware_in_production(production_probe):
    middleware = production_probe["middleware"]
    assert middleware[0] == "config.health.HealthCheckMiddleware"
    security = middleware.index("django.middleware.security.SecurityMiddleware")
    assert middleware[security + 1] == "whitenoise.middleware.WhiteNoiseMiddleware"


@pytest.mark.django_db
def test_healthz_under_the_test_settings_with_ssl_redirect():
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["clinic.example"]):
        response = Client().get("http://127.0.0.1:8000/healthz", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


class DownDatabase:
    def cursor(self):
        raise OperationalError("connection to server at 10.0.0.5 failed: password for clinic_app")


def test_healthz_says_unavailable_without_details_when_the_database_is_down(monkeypatch):
    monkeypatch.setattr("config.health.connection", DownDatabase())
    response = Client().get("/healthz", HTTP_HOST="127.0.0.1")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert b"10.0.0.5" not in response.content and b"password" not in response.content


@pytest.mark.django_db
def test_other_methods_and_paths_go_to_the_app():
    assert Client().post("/healthz", HTTP_HOST="127.0.0.1").status_code == 404
    assert Client().get("/healthz/", HTTP_HOST="127.0.0.1").status_code == 404


# --- /healthz?full=1: each service apart, for the operator -------------------------------------

OPERATOR = "172.18.0.5"  # Prometheus or the operator's probe, beside web on the compose network


def full(remote_addr: str = OPERATOR, **extra):
    return Client(REMOTE_ADDR=remote_addr).get("/healthz?full=1", **extra)


@pytest.mark.django_db
def test_the_full_health_check_names_each_service_when_all_answer():
    response = full()
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok", "storage": "ok", "keys": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_the_full_health_check_says_redis_is_down_on_a_closed_port():
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # the discard port: closed
        response = full()
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "down", "storage": "ok", "keys": "ok"}


@pytest.mark.django_db
def test_the_full_health_check_says_storage_is_down_when_s3_does_not_answer(s3_server):
    closed = s3_server.blob_storage(endpoint=f"http://127.0.0.1:{_free_port()}")
    with override_settings(STORAGES={**settings.STORAGES, "blobs": closed}):
        response = full()
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "ok", "storage": "down", "keys": "ok"}


@pytest.mark.django_db
def test_without_redis_configured_the_full_check_says_so_and_stays_healthy():
    with override_settings(REDIS_URL=""):
        response = full()
    assert response.status_code == 200
    assert response.json()["redis"] == "not configured"


def test_the_full_health_check_hides_the_database_error_too(monkeypatch):
    monkeypatch.setattr("config.health.connection", DownDatabase())
    response = full()
    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert b"10.0.0.5" not in response.content and b"password" not in response.content


@pytest.mark.django_db
def test_the_full_health_check_is_not_found_outside_the_operators_network():
    assert full("203.0.113.9").status_code == 404
    assert full(OPERATOR, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    # The plain answer for load balancers stays open to every caller.
    plain = Client(REMOTE_ADDR="203.0.113.9").get("/healthz")
    assert plain.status_code == 200 and plain.json() == {"status": "ok"}
