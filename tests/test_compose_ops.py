"""What an operator needs of docker-compose.yml beyond starting: every setting the app reads is
reachable from .env, every long-running service says whether it is healthy, one beat, bounded
memory and rotated logs, and a web tier sized by a setting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import yaml

from tests.conftest import ROOT
from tests.test_compose import APP_SERVICES, COMPOSE_ENV, compose_config, spec

# Read by config/settings.py but not for a compose deployment, each for a reason:
NOT_FOR_COMPOSE = {
    "DJANGO_VAR_DIR": "the embedded default's SQLite and blob folder",
    "CELERY_TASK_ALWAYS_EAGER": "tests and the embedded default run tasks in-process",
    "EMAIL_URL": "the embedded default and the tests; compose gives SMTP in parts",
    "DJANGO_DEBUG": "refused under DJANGO_PRODUCTION=1",
    "PROMETHEUS_MULTIPROC_DIR": "set by deploy/gunicorn.conf.py for its own processes",
}
LONG_RUNNING = ("postgres", "redis", "seaweedfs", "web", "worker", "beat", "proxy")


def settings_read() -> set[str]:
    """Every variable config/settings.py reads from the environment."""
    text = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r"\benv(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", text))
    names |= set(re.findall(r"\b(?:env_secret|_required_in_production)\(\s*\"([A-Z0-9_]+)\"", text))
    return names


def app_environment(service: str) -> dict:
    return spec()["services"][service].get("environment") or {}


def test_every_setting_the_app_reads_is_reachable_from_env():
    names = settings_read()
    assert len(names) > 40, "the settings scan found too little: has config/settings.py moved?"
    for service in APP_SERVICES:
        given = set(app_environment(service))
        missing = {
            name
            for name in names - set(NOT_FOR_COMPOSE)
            if name not in given and f"{name}_FILE" not in given
        }
        assert not missing, f"{service} cannot be given {sorted(missing)} from .env"


def test_a_setting_in_env_reaches_the_app(tmp_path):
    """Pass-through entries take their value from .env and stay unset when .env has none."""
    binary = shutil.which("docker-compose")
    if binary is None:
        compose_config(COMPOSE_ENV, tmp_path)  # fails in CI, skips elsewhere, saying why
    env_file = tmp_path / ".env"
    values = {**COMPOSE_ENV, "OUTBOX_GRACE_SECONDS": "90"}
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    outside = {k: v for k, v in os.environ.items() if k not in values and k != "KMS_KEY_ID"}
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(env_file), "config"],
        cwd=ROOT,
        env=outside,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    web = yaml.safe_load(result.stdout)["services"]["web"]["environment"]
    assert web["OUTBOX_GRACE_SECONDS"] == "90"
    assert web["KMS_KEY_ID"] is None  # unset in the container: the app's default holds
    assert web["WEB_CONCURRENCY"] == "3"


def test_every_long_running_service_has_a_healthcheck_limits_and_rotated_logs():
    services = spec()["services"]
    for name in LONG_RUNNING:
        service = services[name]
        assert "healthcheck" in service, f"{name} has no healthcheck"
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name} has no memory limit"
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"] and logging["options"]["max-file"], name


def test_one_beat_and_a_web_tier_sized_by_a_setting():
    services = spec()["services"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "BEAT_LOCK_SECONDS" in app_environment("beat")
    assert "clinicphotos:beat-lock" in str(services["beat"]["healthcheck"]["test"])
    assert str(app_environment("web").get("WEB_CONCURRENCY", "")).startswith("${WEB_CONCURRENCY")
    conf = (ROOT / "deploy" / "gunicorn.conf.py").read_text()
    assert "cpu_count" not in conf
