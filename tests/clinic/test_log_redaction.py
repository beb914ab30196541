"""A patient's signing link never lands in a log, however the app is served: here a plain
`gunicorn config.wsgi --access-logfile -`, as docs/operations.md's container-free instructions
start it, without the project's gunicorn config file."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import APP_ROLE

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "Zq3vN8xWk2LmP5rT7yB9cD4fG6hJ1sA0eU_iO-pQ"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def plain_gunicorn(django_db_setup, tmp_path):
    port = _free_port()
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{db['NAME']}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(gunicorn), "config.wsgi", "--access-logfile", "-", "-b", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                _get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start: " + err.read_text())
        yield base, out, err
    finally:
        process.terminate()
        process.wait(10)


def test_a_plain_gunicorn_access_log_never_shows_a_link_token(plain_gunicorn):
    base, out, err = plain_gunicorn
    paths = [
        f"/p/harbour-clinic/sign/{TOKEN}/",
        f"/p/harbour-clinic/withdraw/{TOKEN}/",
        f"/invite/harbour-clinic/{TOKEN}/",
        f"/login/?next=%2Finvite%2Fharbour-clinic%2F{TOKEN}%2F",
    ]
    for path in paths:
        assert _get(base + path) < 500
    # The access log is written after the response; wait for the last line, not a fixed time.
    for _ in range(100):
        if out.read_text().count("[redacted]") >= len(paths):
            break
        time.sleep(0.05)
    logged = out.read_text() + err.read_text()
    assert "/p/harbour-clinic/sign/[redacted]" in logged
    assert TOKEN not in logged
