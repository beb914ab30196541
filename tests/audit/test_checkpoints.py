"""Checkpoints: a chain's signed head, kept in the object store, catches what the chain alone
cannot: the newest events deleted, or an owner who edits an event and recomputes every later
hash. verify_audit names every broken chain, the event and what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import override_settings

from audit import checkpoints
from audit.models import AuditEvent
from audit.services import record
from audit.tasks import verify_all_chains, write_clinic_checkpoint
from audit.verify import verify_chain
from clinic.models import Role
from clinic.tenancy import clinic_context
from config.celery import app
from tests import factories as f
from tests.conftest import APP_ROLE, ROOT, superuser_test_db_dsn


def _clinic_with_events(n: int, name: str = "Checkpoint Clinic"):
    clinic = f.make_clinic(name)
    for i in range(n):
        record(clinic=clinic, action="test.checkpoint", details={"i": i})
    return clinic


def _events(clinic) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic).order_by("seq"))


def _as_superuser(*statements: tuple[str, list]) -> None:
    """What a malicious DBA could do: the triggers switched off for the session."""
    with psycopg.connect(superuser_test_db_dsn(), autocommit=True) as dba:
        dba.execute("SET session_replication_role = replica")
        for sql, params in statements:
            dba.execute(sql, params)


def _delete_newest(clinic, n: int) -> list[AuditEvent]:
    newest = _events(clinic)[-n:]
    _as_superuser(("DELETE FROM audit_auditevent WHERE id = ANY(%s)", [[e.id for e in newest]]))
    return newest


def _rewrite_from(clinic, seq: int) -> None:
    """Alter event ``seq`` and recompute its hash and every later one, so each link holds."""
    events = _events(clinic)
    updates = []
    previous = events[seq - 2].hash if seq > 1 else None
    for event in events[seq - 1 :]:
        if event.seq == seq:
            event.details = {"forged": True}
        if previous is not None:
            event.prev_hash = previous
        event.hash = event.compute_hash()
        previous = event.hash
        updates.append(
            (
                "UPDATE audit_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [psycopg.types.json.Jsonb(event.details), event.prev_hash, event.hash, event.id],
            )
        )
    _as_superuser(*updates)


def _manage(*args: str, bucket: str | None = None) -> subprocess.CompletedProcess:
    """A management command in a process of its own, as the app role, on this test's S3."""
    store = settings.STORAGES["blobs"]["OPTIONS"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "S3_BUCKET": bucket or store["bucket_name"],
        "S3_ENDPOINT_URL": store["endpoint_url"],
        "S3_ACCESS_KEY_ID": store["access_key"],
        "S3_SECRET_ACCESS_KEY": store["secret_key"],
        "S3_REGION": store["region_name"],
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_checkpoint_is_a_signed_object_with_the_chains_head(committed_db, s3_server):
    clinic = _clinic_with_events(5)
    written = checkpoints.write(clinic.id)
    head = _events(clinic)[-1]
    assert (written.seq, written.head_hash, written.count) == (5, head.hash, 5)
    assert written.name.startswith(f"checkpoints/{clinic.id}/")
    stored = json.loads(
        s3_server.client.get_object(Bucket=s3_server.bucket, Key=written.name)["Body"].read()
    )
    assert stored["seq"] == 5 and stored["head_hash"] == head.hash and stored["count"] == 5
    assert stored["chain"] == str(clinic.id) and len(stored["hmac_sha256"]) == 64
    # Not encrypted: the master key plays no part, and an operator can read it.
    assert stored["format"] == "clinicphotos-audit-checkpoint/1"

    record(clinic=clinic, action="test.checkpoint", details={"after": True})
    report = verify_chain(clinic.id)
    assert report.ok and report.checked == 6 and report.checkpoint.seq == 5


def test_a_chain_with_nothing_new_gets_no_new_checkpoint_object(committed_db, s3_server):
    clinic = _clinic_with_events(2, "Quiet Clinic")
    first = checkpoints.write(clinic.id)
    again = checkpoints.write(clinic.id)
    assert again.name == first.name
    listed = s3_server.client.list_objects_v2(
        Bucket=s3_server.bucket, Prefix=f"checkpoints/{clinic.id}/"
    )
    assert listed["KeyCount"] == 1
    record(clinic=clinic, action="test.checkpoint", details={"later": True})
    assert checkpoints.write(clinic.id).seq == 3


def test_deleting_the_newest_3_events_after_a_checkpoint_makes_verify_audit_exit_1(committed_db):
    clinic = _clinic_with_events(6, "Tail Clinic")
    checkpoints.write(clinic.id)
    _delete_newest(clinic, 3)
    # The chain alone is still a chain: that is what the checkpoint is for.
    assert verify_chain(clinic.id, with_checkpoint=False).ok

    result = _manage("verify_audit", "--clinic", clinic.slug)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("BROKEN")]
    assert clinic.slug in line
    assert "the chain ends at #3" in line and "vouched for #6" in line
    assert "the newest 3 event(s) it covered were deleted" in line


def test_an_owner_who_alters_an_event_and_recomputes_every_later_hash_is_caught(committed_db):
    clinic = _clinic_with_events(8, "Rewritten Clinic")
    checkpoints.write(clinic.id)
    _rewrite_from(clinic, 3)
    assert _events(clinic)[2].details == {"forged": True}
    # Every link holds, so the chain alone says OK (what verify_audit said before checkpoints).
    assert verify_chain(clinic.id, with_checkpoint=False).ok

    result = _manage("verify_audit", "--clinic", clinic.slug)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BROKEN  {clinic.slug}: event #8 no longer has the hash" in result.stdout
    assert "rewritten (events altered and their hashes recomputed)" in result.stdout

    # And the daily checkpoint refuses to vouch for the rewritten chain.
    with pytest.raises(checkpoints.CheckpointRefused, match="#8 no longer has the hash"):
        checkpoints.write(clinic.id)
    refused = _manage("audit_checkpoint", "--clinic", clinic.slug)
    assert refused.returncode == 1 and f"REFUSED {clinic.slug}" in refused.stdout


def test_an_altered_event_without_recomputing_is_named_with_its_seq(committed_db):
    clinic = _clinic_with_events(4, "Altered Clinic")
    victim = _events(clinic)[1]
    _as_superuser(
        ("UPDATE audit_auditevent SET details = '{\"forged\": 1}' WHERE id = %s", [victim.id])
    )
    result = _manage("verify_audit", "--clinic", clinic.slug)
    assert result.returncode == 1
    assert f"event #2 (id {victim.id})" in result.stdout and "altered" in result.stdout


def test_verify_audit_names_every_broken_chain_not_only_the_first(committed_db):
    tail = _clinic_with_events(5, "First Broken")
    checkpoints.write(tail.id)
    _delete_newest(tail, 3)
    altered = _clinic_with_events(5, "Second Broken")
    _as_superuser(
        (
            "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
            [_events(altered)[3].id],
        )
    )
    fine = _clinic_with_events(2, "Still Fine")

    result = _manage("verify_audit")
    assert result.returncode == 1
    out = result.stdout
    assert f"BROKEN  {tail.slug}: the chain ends at #2" in out
    assert f"BROKEN  {altered.slug}: event #4" in out
    assert f"OK      {fine.slug}: 2 events verified" in out
    assert "(system)" in out


def test_a_tampered_checkpoint_object_is_reported(committed_db, s3_server):
    clinic = _clinic_with_events(4, "Tampered Checkpoint")
    written = checkpoints.write(clinic.id)
    document = json.loads(
        s3_server.client.get_object(Bucket=s3_server.bucket, Key=written.name)["Body"].read()
    )
    # Someone with the bucket but not the key makes the checkpoint forgive a shorter chain.
    document["seq"], document["count"] = 2, 2
    s3_server.client.put_object(
        Bucket=s3_server.bucket, Key=written.name, Body=json.dumps(document).encode()
    )
    report = verify_chain(clinic.id)
    assert not report.ok
    assert report.checkpoint is None
    (problem,) = report.checkpoint_problems
    assert written.name in problem and "fails its signature check" in problem

    result = _manage("verify_audit", "--clinic", clinic.slug)
    assert result.returncode == 1 and "fails its signature check" in result.stdout
    # Nor is a fresh checkpoint written over it, which would hide it from the next check.
    with pytest.raises(checkpoints.CheckpointRefused, match="fails its signature check"):
        checkpoints.write(clinic.id)


def test_a_checkpoint_signed_with_another_key_does_not_count(committed_db):
    clinic = _clinic_with_events(3, "Other Key")
    with override_settings(AUDIT_CHECKPOINT_KEY="someone-else-s-key-" + "q" * 30):
        checkpoints.write(clinic.id)
    report = verify_chain(clinic.id)
    assert not report.ok and "another AUDIT_CHECKPOINT_KEY" in report.checkpoint_problems[0]


def test_a_checkpoint_copied_to_another_chain_does_not_count(committed_db, s3_server):
    source = _clinic_with_events(3, "Source")
    target = _clinic_with_events(3, "Target")
    written = checkpoints.write(source.id)
    copy = written.name.replace(str(source.id), str(target.id))
    s3_server.client.copy_object(
        Bucket=s3_server.bucket,
        Key=copy,
        CopySource={"Bucket": s3_server.bucket, "Key": written.name},
    )
    report = verify_chain(target.id)
    assert not report.ok and copy in report.checkpoint_problems[0]


# The app's S3 identity may use its own bucket alone, so a bucket that is not its own (a wrong
# S3_BUCKET) is refused before SeaweedFS looks for it: AccessDenied, not NoSuchBucket.
STORE_REFUSED = "AccessDenied"


def test_a_missing_checkpoint_store_is_a_clear_error(committed_db, s3_server):
    clinic = _clinic_with_events(2, "No Store")
    result = _manage("verify_audit", "--clinic", clinic.slug, bucket="no-such-bucket")
    assert result.returncode == 1
    assert f"ERROR   {clinic.slug}: checkpoint not checked: the checkpoint store " in result.stdout
    assert "(S3 bucket 'no-such-bucket') cannot be read" in result.stdout
    assert STORE_REFUSED in result.stdout
    assert "Traceback" not in result.stderr

    written = _manage("audit_checkpoint", "--clinic", clinic.slug, bucket="no-such-bucket")
    assert written.returncode == 1
    assert "Checkpoint store unavailable" in written.stderr and STORE_REFUSED in written.stderr

    missing = s3_server.blob_storage(bucket="no-such-bucket")
    with override_settings(STORAGES={**settings.STORAGES, "blobs": missing}):
        assert STORE_REFUSED in verify_chain(clinic.id).store_error


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_checkpoint_folder_that_is_not_there_is_a_clear_error_too(cast, tmp_path):
    record(clinic=cast.clinic_a, action="test.local", details={})
    gone = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "unmounted")},
    }
    with override_settings(STORAGES={**settings.STORAGES, "blobs": gone}):
        report = verify_chain(cast.clinic_a.id)
        with pytest.raises(checkpoints.CheckpointStoreUnavailable, match="does not exist"):
            checkpoints.write(cast.clinic_a.id)
    assert not report.ok and "unmounted does not exist" in report.store_error
    # On the embedded default's disk the first checkpoint makes its folder.
    assert checkpoints.write(cast.clinic_a.id).seq == 1
    assert verify_chain(cast.clinic_a.id).ok


def test_the_checkpoint_command_writes_every_chain(committed_db):
    clinic = _clinic_with_events(2, "Command Clinic")
    result = _manage("audit_checkpoint")
    # (Other tests' chains in this database are broken on purpose: those are refused.)
    assert f"WROTE   {clinic.slug}: #2 " in result.stdout, result.stdout + result.stderr
    assert "(system)" in result.stdout
    assert checkpoints.latest(clinic.id).checkpoint.seq == 2


def test_the_beat_schedule_writes_checkpoints_every_15_minutes_and_verifies_nightly():
    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    # The blind spot (events after the last checkpoint) is minutes old at most.
    assert schedule["audit.tasks.write_all_checkpoints"] == timedelta(minutes=15)
    assert schedule["audit.tasks.verify_all_chains"] == timedelta(hours=24)
    app.loader.import_default_modules()  # the worker's autodiscovery of every app's tasks
    for name in schedule:
        assert name in app.tasks, f"the beat schedule names an unknown task {name}"


def test_a_real_worker_writes_a_clinics_checkpoint(celery_worker):
    clinic = _clinic_with_events(3, "Worker Checkpoint")
    result = celery_worker.send(write_clinic_checkpoint, clinic_id=str(clinic.id)).get(timeout=60)
    assert result["written"] is True and result["seq"] == 3
    latest = checkpoints.latest(clinic.id).checkpoint
    assert latest.name == result["name"] and latest.head_hash == _events(clinic)[-1].hash


def test_the_nightly_run_covers_the_system_chain_and_emails_the_admins_of_a_broken_clinic(
    committed_db,
):
    clinic = f.make_clinic("Nightly Clinic")
    admin = f.make_member(clinic, Role.ADMIN, "Nadia Nightly")
    reception = f.make_member(clinic, Role.RECEPTION, "Rita Nightly")
    for i in range(5):
        record(clinic=clinic, action="test.nightly", details={"i": i})
    checkpoints.write(clinic.id)
    _delete_newest(clinic, 2)
    mail.outbox.clear()

    queued = verify_all_chains.delay().get()  # eager in tests: every chain runs here
    assert queued >= 2  # this clinic, the others in the database, and the system chain

    (message,) = [m for m in mail.outbox if admin.email in m.to]
    assert reception.email not in message.to
    assert "failed its check" in message.subject
    assert "the newest 2 event(s) it covered were deleted" in message.body
    with clinic_context(clinic.id):
        failure = AuditEvent.objects.get(clinic=clinic, action="audit.verification_failed")
    assert failure.details["found_by"] == "verification"
    assert "#5" in failure.details["problems"][0]


def test_a_store_outage_at_night_is_logged_for_the_operator_not_mailed_as_tampering(
    committed_db, s3_server, caplog
):
    from audit.tasks import verify_clinic_chain

    clinic = f.make_clinic("Outage Clinic")
    admin = f.make_member(clinic, Role.ADMIN, "Olga Outage")
    record(clinic=clinic, action="test.outage", details={})
    mail.outbox.clear()
    missing = s3_server.blob_storage(bucket="no-such-bucket")
    with override_settings(STORAGES={**settings.STORAGES, "blobs": missing}):
        result = verify_clinic_chain.apply(kwargs={"clinic_id": str(clinic.id)}).get()
    assert result["ok"] is False and STORE_REFUSED in result["problems"][0]
    assert "not checked" in caplog.text and STORE_REFUSED in caplog.text
    assert not [m for m in mail.outbox if admin.email in m.to]
    assert not _events(clinic)[1:]  # no verification_failed event either
