"""`seed_scale` as an operator runs it: as the owner, on an empty PostgreSQL database of its
own, then the app role reads what it made. Small sizes here; the full sizes are `make bench`'s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import APP_ROLE, OWNER_ROLE, superuser

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("seed_scale")


@pytest.fixture
def scale_db(tmp_path):
    name = f"clinicphotos_scale_{os.getpid()}"
    with superuser() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_VAR_DIR": str(tmp_path),  # blobs on local disk: the test is about the database
        "DATABASE_APP_ROLE": APP_ROLE,
        "SITE_URL": "http://testserver",
    }
    owner = f"postgres://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    app = f"postgres://{APP_ROLE}@127.0.0.1:5432/{name}"

    def manage(*args: str, url: str = owner) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**env, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert manage("migrate", "--noinput", "-v", "0").returncode == 0
    yield manage, owner, app, name, tmp_path
    with superuser() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_seed_scale_loads_valid_chains_and_real_objects_for_the_opened_patients(scale_db):
    manage, owner, app, name, var = scale_db
    done = manage(
        "seed_scale",
        "--patients",
        "60",
        "--photos",
        "600",
        "--events",
        "3000",
        "--objects-for",
        "3",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["clinics"] == ["scale-0", "scale-1", "scale-2", "scale-3"]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}") as conn:
        count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        assert count("SELECT count(*) FROM patients_patient") == 60
        assert count("SELECT count(*) FROM photos_photo WHERE status = 'ready'") == 600
        assert count("SELECT count(*) FROM photos_blob WHERE wrapped_key IS NULL") == 0
        # The seeded events plus each clinic's setup.
        assert count("SELECT count(*) FROM audit_auditevent") >= 3000
        assert count("SELECT count(DISTINCT clinic_id) FROM audit_auditevent") == 4
        assert count("SELECT count(*) FROM consent_consentrecord") > 0
        big = summary["patient_200_photos"]
        assert count(f"SELECT count(*) FROM photos_photo WHERE patient_id = '{big}'") == 200
        # FORCE row-level security is back on every table it was lifted from.
        unforced = conn.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND NOT relforcerowsecurity"
        ).fetchall()
        assert unforced == []
    # Every chain verifies, read as the app role under row-level security.
    verified = manage("verify_audit", url=app)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("OK") >= 4
    # The 200-photo patient's thumbnails are real encrypted objects the app can open.
    opened = manage(
        "shell",
        "-c",
        "from clinic.tenancy import clinic_context; from photos.models import Photo; "
        "from vault.storage import blob_read\n"
        f"from clinic.models import Clinic\nc = Clinic.objects.get(slug='scale-0')\n"
        "with clinic_context(c.id):\n"
        f"    p = Photo.objects.filter(patient_id='{big}').select_related('thumb').first()\n"
        "    print(blob_read(p.thumb)[:3].hex())",
        url=app,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip().splitlines()[-1] == "ffd8ff"
    assert summary["objects_written"] > 0
    stored = [p for p in var.rglob("*") if p.is_file() and "db.sqlite3" not in p.name]
    assert len(stored) >= summary["objects_written"]
    assert all(b"\xff\xd8\xff" not in p.read_bytes()[:64] for p in stored)  # encrypted at rest


def test_seed_scale_refuses_the_app_role_and_a_second_load(scale_db):
    manage, owner, app, name, var = scale_db
    refused = manage("seed_scale", "--patients", "8", "--photos", "8", "--events", "8", url=app)
    assert refused.returncode == 1
    assert "owner role" in refused.stderr
    assert manage("seed_scale", "--patients", "8", "--photos", "8", "--events", "8").returncode == 0
    again = manage("seed_scale", "--patients", "8", "--photos", "8", "--events", "8")
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = manage("seed_scale", "--patients", "-1")
    assert bad.returncode == 1 and "positive" in bad.stderr


def test_seed_scale_refuses_the_embedded_sqlite_default(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_VAR_DIR": str(tmp_path),
        "SITE_URL": "http://testserver",
    }
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *a], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run("migrate", "-v", "0").returncode == 0
    refused = run("seed_scale", "--patients", "8", "--photos", "8", "--events", "8")
    assert refused.returncode == 1
    assert "not PostgreSQL" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_copy_rows_refuses_to_run_outside_a_transaction():
    """It lifts FORCE row-level security for its table: only inside a transaction, which puts
    it back before anyone else can see the table."""
    from demo.copy import copy_rows
    from patients.models import Patient

    with pytest.raises(RuntimeError, match="inside a transaction"):
        copy_rows(Patient, [])
