"""The vault moved out of photos without touching a stored byte: a database made by the code
before the move (committed as a fixture) migrates, and every object in it still decrypts."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "pre_vault_embedded.tar.gz"
# Made by seed code at commit 5842290 (the last before the move): one clinic with a logo,
# two processed photos, a signed consent with its PDF copy.


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _blob_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, clinic_id, purpose, key_version, wrapped_key, size FROM photos_blob"
            " ORDER BY id"
        ).fetchall()


def _manage(folder: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PRE_VAULT_DIR": str(folder),
        "DJANGO_SETTINGS_MODULE": "tests.vault.pre_vault_settings",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_object_made_before_the_vault_move_still_decrypts(tmp_path):
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    db, blobs = tmp_path / "db.sqlite3", tmp_path / "blobs"
    files_before, rows_before = _digests(blobs), _blob_rows(db)
    assert len(rows_before) == 8

    plan = _manage(tmp_path, "manage.py", "migrate", "--plan")
    assert "vault.0001_vault_adopts_blob_tables" in plan
    _manage(tmp_path, "manage.py", "migrate", "--noinput")
    found = json.loads(_manage(tmp_path, "tests/vault/check_pre_vault.py"))

    assert found["blobs"] == {"original": 2, "display": 2, "thumb": 2, "signature": 1, "pdf": 1}
    assert found["logos"] == 1
    assert found["streamed_equal"] is True
    # State-only: the same table, the same rows and wrapped keys, the same ciphertext files.
    assert _blob_rows(db) == rows_before
    assert _digests(blobs) == files_before
    for path in blobs.iterdir():
        head = path.read_bytes()[:4]
        assert head == b"CPS1", "every stored object is ciphertext in the vault's format"


def test_a_trail_written_before_sealing_still_verifies_and_is_resealed_by_new_events(tmp_path):
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    _manage(tmp_path, "manage.py", "migrate", "--noinput")
    # Its events keep hash format 1: the new fields are not in what their hashes cover.
    assert "events verified" in _manage(tmp_path, "manage.py", "verify_audit")
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        before = conn.execute(
            "SELECT id, hash, details, actor_label FROM audit_auditevent"
        ).fetchall()
    assert ("patient: Joanne Smith",) in {(row[3],) for row in before}  # signer in clear
    resealed = _manage(tmp_path, "manage.py", "audit_reseal")
    assert ": 2 older event(s) given a sealed copy" in resealed  # the request and the signing
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        after = conn.execute(
            "SELECT id, hash, details, actor_label FROM audit_auditevent"
        ).fetchall()
        added = conn.execute(
            "SELECT count(*) FROM audit_auditevent WHERE action = 'audit.personal_resealed'"
        ).fetchone()[0]
    assert set(before) <= set(after) and added >= 1
    assert "BROKEN" not in _manage(tmp_path, "manage.py", "verify_audit")
