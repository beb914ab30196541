"""Production settings: deploy checks clean, secrets required, security headers on responses."""

import os
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from tests.conftest import ROOT

PRODUCTION_ENV = {
    "DJANGO_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": "k" * 20 + "production-secret-from-the-environment-0123456789",
    "MASTER_KEY": "dGVzdC1wcm9kdWN0aW9uLW1hc3Rlci1rZXktMzJieSE=",
    "AUDIT_CHECKPOINT_KEY": "c" * 20 + "checkpoint-signing-key-of-its-own",
    "DJANGO_ALLOWED_HOSTS": "clinic.example",
    "DATABASE_URL": "postgres://clinic_app@127.0.0.1:5432/postgres",
}


def manage(*args, env_overrides=None, drop=()):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never would.
    drop = (*drop, "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "MASTER_KEY", "AUDIT_CHECKPOINT_KEY", "DJANGO_ALLOWED_HOSTS"]
)
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env_overrides=env, drop=(missing,))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret-" + "x" * 50)
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    env["DJANGO_SECRET_KEY_FILE"] = str(secret_file)
    result = manage("check", env_overrides=env, drop=("DJANGO_SECRET_KEY",))
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
def test_responses_carry_the_security_headers():
    response = Client().get("/login/", secure=True)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_no_template_contains_inline_script_or_style_attributes():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if (
            "<script>" in text
            or "<script " in text.replace("<script src=", "")
            or " style=" in text
            or " onclick=" in text
        ):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
