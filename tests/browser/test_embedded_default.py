"""The embedded default under real use: the app started exactly as `make run` starts it (no
environment, SQLite, eager tasks, console mail, the threaded development server), and a patient
page whose thumbnails the browser fetches all at once. Each thumbnail is decrypted and audited
in its own request, so this is where a database that cannot take concurrent writers shows.

Only the place of ``var/`` differs (``DJANGO_VAR_DIR``): the test never touches the developer's.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import ROOT, VIEWPORTS, Journey, watch_for_errors

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "demo-clinic-2026"
# One demo practitioner or admin per viewport: a TOTP code is accepted only once.
STAFF = {"desktop": "nadia.nurse@harbour.example", "phone": "amelia.admin@harbour.example"}
MIN_THUMBNAILS = 8
SERVER_FAILURES = ("Traceback", "database is locked", "Internal Server Error")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedApp:
    """`make run` in a subprocess: migrate, seed_demo, runserver (threaded), in a clean
    environment whose only setting is where ``var/`` lives."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.port = _free_port()
        self.log_path = var_dir / "runserver.log"
        self.env = {
            "HOME": os.environ.get("HOME", "/root"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_VAR_DIR": str(var_dir),
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"runserver did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def patient_with_most_photos(self) -> tuple[str, str, int]:
        """(clinic slug, patient id, ready photos) of the demo patient with the most photos."""
        with sqlite3.connect(f"file:{self.var_dir / 'db.sqlite3'}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT c.slug, p.patient_id, COUNT(*) FROM photos_photo p "
                "JOIN clinic_clinic c ON c.id = p.clinic_id "
                "WHERE p.status = 'ready' AND p.deleted_at IS NULL "
                "GROUP BY c.slug, p.patient_id ORDER BY COUNT(*) DESC LIMIT 1"
            ).fetchone()
        slug, patient_hex, count = row
        return slug, _dashed(patient_hex), count


def _dashed(hex_id: str) -> str:
    # SQLite stores UUIDs as 32 hex digits; URLs carry the dashed form.
    h = hex_id.replace("-", "")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _last_error(app: EmbeddedApp) -> str:
    """The server's last logged exception line, to say why a thumbnail broke."""
    lines = [line for line in app.log().splitlines() if "Error" in line]
    return lines[-1] if lines else "(nothing in the server's output)"


@pytest.fixture(scope="module")
def embedded_app(tmp_path_factory) -> Iterator[EmbeddedApp]:
    app = EmbeddedApp(tmp_path_factory.mktemp("embedded-var"))
    app.start()
    yield app
    app.stop()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_make_run_serves_a_patient_page_with_every_thumbnail_at_once(
    browser, embedded_app, viewport
):
    app = embedded_app
    slug, patient_id, ready = app.patient_with_most_photos()
    assert ready >= MIN_THUMBNAILS, f"the demo's richest patient has only {ready} photos"

    context = browser.new_context(base_url=app.url, locale="en-GB", **VIEWPORTS[viewport])
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = watch_for_errors(page)
    failures: list[str] = []
    page.on(
        "response",
        lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None,
    )
    j = Journey(page, app.url, viewport)
    try:
        email = STAFF[viewport]
        j.sign_in(email, PASSWORD)
        j.enter_code(app.manage("demo_code", email).strip())
        page.wait_for_url(f"**/c/{slug}/")

        j.visit(f"/c/{slug}/patients/{patient_id}/")
        thumbs = page.locator(".photo-card img")
        assert thumbs.count() >= MIN_THUMBNAILS
        # Lazy images below the fold load once scrolled to (the end of the photos, not of the
        # page: sections below them would carry the view past the middle rows); then wait for
        # every one to finish.
        page.locator("#photos").evaluate("s => s.scrollIntoView({block: 'end'})")
        # (Polled from here: wait_for_function would evaluate a string, which our CSP refuses.)
        for _ in range(200):
            if thumbs.evaluate_all("imgs => imgs.every(i => i.complete)"):
                break
            page.wait_for_timeout(100)
        widths = thumbs.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        assert all(w > 0 for w in widths), (
            f"thumbnails not decoded: {widths}; server errors: {failures}\n{_last_error(app)}"
        )

        # And the same thumbnails requested again all at once, as a reload would.
        statuses = page.evaluate(
            "Promise.all([...document.querySelectorAll('.photo-card img')].flatMap(i =>"
            " [1, 2, 3].map(() => fetch(i.src, {cache: 'no-store'}).then(r => r.status))))"
        )
        assert statuses and set(statuses) == {200}, f"thumbnail statuses: {statuses}"

        page.evaluate("window.scrollTo(0, 0)")
        j._audited = False
        j.check("embedded-patient-photos")
    finally:
        context.close()

    assert not failures, f"server errors: {failures}\n{app.log()}"
    assert not errors, f"the browser reported errors: {errors}"
    assert not j.problems, "\n".join(["pages with problems:", *j.problems])
    log = app.log()
    found = [word for word in SERVER_FAILURES if word in log]
    assert not found, f"the server's output shows {found}:\n{log}"
