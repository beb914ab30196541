"""`manage.py export_patient`: the page's export for operators, audited as the system."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.exports import helpers as h


def _events(clinic, action):
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action))


@pytest.mark.django_db
@pytest.mark.embedded
def test_export_patient_writes_a_bundle_that_verifies_and_is_audited_as_the_system(cast, tmp_path):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    out = tmp_path / "out.zip"
    stdout = io.StringIO()
    call_command(
        "export_patient",
        "--clinic", cast.clinic_a.slug,
        "--patient", str(patient.pk),
        "--recipient", "NHS Resolution",
        "--reason", "regulator",
        "--episode", str(episode.pk),
        "--out", str(out),
        stdout=stdout,
    )  # fmt: skip
    assert "NHS Resolution" in stdout.getvalue()
    manifest = h.assert_bundle_verifies(h.unzip(out, tmp_path / "b"))
    (original,) = [e for e in manifest["files"] if e["kind"] == "original photo"]
    assert original["sha256"] == photo.original_sha256
    assert manifest["requested_by"].startswith("system")
    for action in ("export.created", "export.downloaded"):
        (event,) = _events(cast.clinic_a, action)
        assert event.actor_id is None and event.actor_label.startswith("system")
        assert f.personal_of(event) == {"recipient": "NHS Resolution"}


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize(
    "change, message",
    [
        ({"--clinic": "no-such-clinic"}, "no clinic"),
        ({"--patient": "not-a-uuid"}, "must be a UUID"),
        ({"--patient": "00000000-0000-0000-0000-000000000000"}, "no such patient"),
        ({"--episode": "00000000-0000-0000-0000-000000000000"}, "no such treatment"),
        ({"--recipient": "  "}, "Say who the export is for"),
        ({"--out": "/no/such/folder/x.zip"}, "does not exist"),
    ],
)
def test_export_patient_refuses_bad_arguments_with_a_message(cast, tmp_path, change, message):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    args = {
        "--clinic": cast.clinic_a.slug,
        "--patient": str(patient.pk),
        "--recipient": "Insurer",
        "--reason": "claim",
        "--out": str(tmp_path / "x.zip"),
        **change,
    }
    with pytest.raises(CommandError, match=message):
        call_command("export_patient", *[part for pair in args.items() for part in pair])
    assert not (tmp_path / "x.zip").exists()


def test_export_patient_on_the_embedded_default_after_seed_demo(tmp_path):
    """As an operator would on a `make run` machine: a clean environment, SQLite, local blobs."""
    from tests.browser.test_embedded_default import EmbeddedApp, _dashed

    app = EmbeddedApp(tmp_path / "var")
    app.var_dir.mkdir()
    app.manage("migrate", "--noinput")
    app.manage("seed_demo")
    slug, patient_id, count = app.patient_with_most_photos()
    out = tmp_path / "demo.zip"
    app.manage(
        "export_patient",
        "--clinic", slug,
        "--patient", patient_id,
        "--recipient", "Demo insurer",
        "--reason", "claim",
        "--out", str(out),
    )  # fmt: skip
    folder = h.unzip(out, tmp_path / "demo")
    manifest = h.assert_bundle_verifies(folder)
    with sqlite3.connect(f"file:{app.var_dir / 'db.sqlite3'}?mode=ro", uri=True) as db:
        recorded = {
            _dashed(pid): sha
            for pid, sha in db.execute(
                "SELECT id, original_sha256 FROM photos_photo WHERE deleted_at IS NULL"
            )
        }
    originals = [e for e in manifest["files"] if e["kind"] == "original photo"]
    assert len(originals) >= count
    for entry in originals:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == recorded[entry["photo_id"]]
    for path in (folder / "renditions").iterdir():
        assert not h.has_metadata(path)
    (folder / "manifest.json").write_bytes(
        (folder / "manifest.json").read_bytes().replace(b'"claim"', b'"claia"')
    )
    assert "manifest.json: FAILED" in h.sha256sum_check(folder).stdout
    summary = h.pdf_text(folder / "summary.pdf")
    assert "Audit extract" in summary and "Consent history" in summary
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=app_root(),
        env=app.env,
        capture_output=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def app_root():
    from tests.browser.conftest import ROOT as root

    return root
