"""The embedded default's database takes concurrent use: SQLite in WAL mode with IMMEDIATE
transactions and a busy timeout, and the audit chain stays one unbroken line under it.

The settings checks run `manage.py` in a clean environment, as `make run` does; the concurrent
requests run against whichever database this run uses (PostgreSQL, then SQLite in `make test`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from audit.verify import verify_chain
from clinic.models import Role
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.conftest import ROOT

pytestmark = pytest.mark.embedded

SHOW_DATABASE = """
import json
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    pragmas = {p: cursor.execute(f"PRAGMA {p}").fetchone()[0]
               for p in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
print(json.dumps({"name": str(settings.DATABASES["default"]["NAME"]),
                  "transaction_mode": connection.transaction_mode,
                  "blobs": settings.STORAGES["blobs"]["OPTIONS"]["location"], **pragmas}))
"""

RECORD_ONE_EVENT = """
from audit.services import record
record(clinic=None, action="test.deferred")
"""


def _manage(var_dir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_VAR_DIR": str(var_dir),
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_embedded_default_database_is_set_up_for_a_threaded_server(tmp_path):
    done = _manage(tmp_path, "shell", "-c", SHOW_DATABASE)
    assert done.returncode == 0, done.stderr
    db = json.loads(done.stdout.strip().splitlines()[-1])
    assert db["name"] == str(tmp_path / "db.sqlite3")
    assert db["blobs"] == str(tmp_path / "blobs")
    assert db["journal_mode"] == "wal"
    assert db["transaction_mode"] == "IMMEDIATE"
    assert db["busy_timeout"] == 20_000
    assert db["synchronous"] == 1  # NORMAL: durable at each WAL checkpoint, safe against corruption
    assert db["foreign_keys"] == 1


def test_audit_refuses_to_append_on_sqlite_without_immediate_transactions(tmp_path):
    # A deferred transaction reads the chain head without the write lock: two writers could
    # both link to it. The trail refuses rather than fork.
    url = f"sqlite:///{tmp_path / 'deferred.db'}?transaction_mode=DEFERRED"
    done = _manage(tmp_path, "shell", "-c", RECORD_ONE_EVENT, DATABASE_URL=url)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "transaction_mode" in done.stderr


def test_thumbnails_fetched_at_once_are_all_served_and_audited_in_one_chain(committed_db):
    if connection.vendor == "sqlite":
        # The SQLite run's test database is a file with the embedded default's options, so
        # the threads below really contend for its one writer.
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.transaction_mode == "IMMEDIATE"
        assert not connection.is_in_memory_db()
    clinic = f.make_clinic("Busy Clinic")
    staff = [f.make_member(clinic, Role.PRACTITIONER) for _ in range(3)]
    patient = f.make_patient(clinic, staff[0])
    episode = f.make_episode(clinic, patient, staff[0])
    views = ["front", "left_45", "right_45", "left_90", "right_90", "chin_up", "close_up", "front"]
    photos = [f.make_ready_photo(clinic, patient, episode, staff[0], view=v) for v in views]
    urls = [
        reverse("photo_thumb", kwargs={"clinic_slug": clinic.slug, "photo_id": p.pk})
        for p in photos
    ]
    clients = [f.verified_client(user) for user in staff for _ in range(2)]
    with clinic_context(clinic.id):
        before = AuditEvent.objects.filter(clinic=clinic).count()
    statuses: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(clients))

    def browse(client) -> None:
        try:
            start.wait()
            for url in urls:
                statuses.append(client.get(url).status_code)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=browse, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert statuses == [200] * (len(clients) * len(urls))
    report = verify_chain(clinic.id)
    assert report.ok, report
    assert report.checked == before + len(statuses)
    with clinic_context(clinic.id):
        viewed = AuditEvent.objects.filter(clinic=clinic, action="photo.viewed").count()
    assert viewed == len(statuses)
