"""Under LOG_FORMAT=json (the production default) the web container and the worker write one
JSON object per line, naming the request (its id is the response's X-Request-ID) or the Celery
task each line comes from; link tokens stay out. Tested on the real servers: gunicorn started
as the image starts it (deploy/gunicorn.conf.py, two worker processes, which also add up the
request latencies /metrics reports), and a Celery worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connections
from prometheus_client.parser import text_string_to_metric_families

from audit.services import record
from audit.tasks import verify_clinic_chain
from tests import factories as f
from tests.conftest import APP_ROLE, ROOT, _free_port, wait_until

TOKEN = "Zq3vN8xWk2LmP5rT7yB9cD4fG6hJ1sA0eU_iO-pQ"
LOGIN_REQUESTS = 6


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def json_lines(path: Path) -> list[dict]:
    """Every line of a log, each of which must be one JSON object."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line in {path.name}: {line!r}")
    return parsed


@pytest.fixture
def production_gunicorn(django_db_setup, tmp_path):
    """gunicorn as the web container runs it, with LOG_FORMAT=json and two processes."""
    port = _free_port()
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{db['NAME']}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "config.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                return get(base + "/healthz")[0] == 200
            except OSError:
                return False

        if not wait_until(answers, timeout=60, step=0.1):
            pytest.fail("gunicorn did not start: " + err.read_text())
        yield base, out, err, tmp_path / "metrics"
    finally:
        process.terminate()
        process.wait(15)


def test_gunicorn_writes_json_lines_with_the_request_id(production_gunicorn):
    base, out, err, _ = production_gunicorn
    status, headers, _ = get(base + "/login/")
    assert status == 200
    request_id = headers["X-Request-ID"]
    given = "proxy-id-0123456789"
    assert get(base + f"/p/harbour-clinic/sign/{TOKEN}/", **{"X-Request-ID": given})[0] < 500
    assert get(base + "/no-such-page?q=Jo+Bloggs")[0] == 404

    def logged() -> list[dict]:
        return json_lines(err) + json_lines(out)

    assert wait_until(
        lambda: sum(line.get("logger") == "clinicphotos.access" for line in logged()) >= 3,
        timeout=10,
    )
    lines = logged()
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
    access = [line for line in lines if line["logger"] == "clinicphotos.access"]
    login = next(line for line in access if line["path"] == "/login/")
    assert login["request_id"] == request_id
    assert (login["method"], login["status"], login["view"]) == ("GET", 200, "login")
    assert isinstance(login["duration_ms"], float) and login["duration_ms"] >= 0
    assert login["message"] == "GET /login/ 200"
    # A proxy's well-formed id is kept; the token in the path is not written.
    signing = next(line for line in access if line["request_id"] == given)
    assert signing["path"] == "/p/harbour-clinic/sign/[redacted]/"
    assert TOKEN not in err.read_text() + out.read_text()
    # Django's own report of the 404 names the request too (and no query string is logged).
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and all(line["request_id"] for line in not_found)
    assert "Jo+Bloggs" not in err.read_text() + out.read_text()
    # gunicorn's own lines are JSON too (its access log is off: the app's lines replace it).
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert not any(line["logger"] == "gunicorn.access" for line in lines)


def test_metrics_add_up_the_requests_of_every_gunicorn_process(production_gunicorn):
    base, _, _, metrics_dir = production_gunicorn
    for _ in range(LOGIN_REQUESTS):
        assert get(base + "/login/")[0] == 200

    def login_count() -> float:
        status, _, body = get(base + "/metrics")
        assert status == 200
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if (
                    sample.name == "clinicphotos_http_request_duration_seconds_count"
                    and sample.labels["view"] == "login"
                ):
                    return sample.value
        return 0

    # Whichever process answers a scrape, it counts every process's requests.
    assert {login_count() for _ in range(6)} == {LOGIN_REQUESTS}
    assert list(metrics_dir.glob("histogram_*.db"))


@pytest.mark.worker
def test_a_worker_writes_json_lines_with_the_task_id(celery_worker):
    celery_worker.stop()
    celery_worker.extra_env["LOG_FORMAT"] = "json"
    celery_worker.start()
    clinic = f.make_clinic()
    record(clinic=clinic, action="test.worker", details={})
    result = celery_worker.send(verify_clinic_chain, clinic_id=str(clinic.id))
    assert result.get(timeout=60)["ok"] is True

    def done() -> list[dict]:
        lines = json_lines(celery_worker.log_path)
        return [line for line in lines if line.get("task_id") == result.id]

    assert wait_until(lambda: any("succeeded" in line["message"] for line in done()), timeout=30)
    line = next(line for line in done() if "succeeded" in line["message"])
    assert line["task_name"] == "audit.tasks.verify_clinic_chain"
    assert line["request_id"] is None and line["level"] == "INFO"
