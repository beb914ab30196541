"""Backups' failure paths and watch, each with the clear message a person acts on: a changed
byte in a set, a missing or wrong backup key, a wrong master key, a stack that is not empty,
no target; what a second backup of an unchanged bucket costs; pruning by age; the tombstone
written through the outbox at erasure time (and retried while the target is down); the weekly
check; the admins told of a failed or missing backup; the recovery sheet."""

from __future__ import annotations

import base64
import io
import os
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from backups import services
from backups.keys import BackupKeyMissing, fingerprint, master_key_fingerprint
from backups.models import BackupRun
from backups.restic import SET_TAG, TOMBSTONE_TAG, BackupDamaged, BackupKeyWrong, Repository
from backups.selectors import backup_status
from backups.tasks import backup_watch
from clinic.models import Job, Role
from clinic.tenancy import clinic_context
from patients.models import Patient
from retention.services import patient_erase
from tests import factories as f

pytestmark = pytest.mark.embedded


@pytest.fixture
def target(stack, tmp_path) -> Path:
    """A folder as backup target, the backup key set, and one clinic with a photo."""
    folder = tmp_path / "backups"
    override = override_settings(**stack.backup_settings(str(folder)))
    override.enable()
    clinic = f.make_clinic("Backup Clinic")
    admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
    patient = f.make_patient(clinic, admin)
    f.make_ready_photo(clinic, patient, f.make_episode(clinic, patient, admin), admin)
    stack.clinic, stack.admin, stack.patient = clinic, admin, patient
    yield folder
    override.disable()


def _flip_a_byte_of_the_largest_pack(folder: Path) -> None:
    pack = max(
        (p for p in (folder / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0x01
    pack.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_set_fails_the_restore_clearly_and_changes_nothing(stack, target):
    services.backup_take()
    _flip_a_byte_of_the_largest_pack(target)
    with stack.fresh():
        with pytest.raises(
            BackupDamaged, match="is damaged: restic found data that fails its authentication"
        ):
            services.restore()
        assert services.found_in_target() == []  # nothing was written
        with pytest.raises(CommandError, match="damaged"):
            call_command("restore", stdout=io.StringIO())


def test_a_missing_backup_key_is_named_for_backup_and_restore(stack, target, tmp_path):
    services.backup_take()
    with override_settings(BACKUP_KEY="", BACKUP_KEY_FILE=""):
        with pytest.raises(BackupKeyMissing, match="set BACKUP_KEY or BACKUP_KEY_FILE"):
            services.backup_take()
        with (
            stack.fresh(),
            pytest.raises(CommandError, match="backup key is missing: set BACKUP_KEY"),
        ):
            call_command("restore", stdout=io.StringIO())
    absent = tmp_path / "no-such-key"
    with override_settings(BACKUP_KEY="", BACKUP_KEY_FILE=str(absent)):
        with pytest.raises(BackupKeyMissing, match=f"BACKUP_KEY_FILE names {absent}"):
            services.restore()
    # The failed attempt is recorded, with its reason, for the settings page and the watch.
    failed = BackupRun.objects.filter(kind="backup", ok=False).first()
    assert failed is not None and "BACKUP_KEY" in failed.error


def test_a_wrong_backup_key_is_named(stack, target):
    services.backup_take()
    with override_settings(BACKUP_KEY="not-the-key-" + secrets.token_hex(8)):
        with stack.fresh(), pytest.raises(BackupKeyWrong, match="BACKUP_KEY .* is not the key"):
            services.restore()


def test_a_wrong_master_key_is_named_and_nothing_is_restored(stack, target):
    services.backup_take()
    other = base64.b64encode(os.urandom(32)).decode()
    with stack.fresh(), override_settings(MASTER_KEY=other):
        with pytest.raises(
            services.RestoreRefused, match="MASTER_KEY is not the master key"
        ) as refused:
            services.restore()
        assert master_key_fingerprint() in str(refused.value)
        assert services.found_in_target() == []


def test_a_stack_that_is_not_empty_is_refused_with_what_was_found_unless_forced(stack, target):
    first = services.backup_take()
    with stack.fresh():
        services.restore()
        with pytest.raises(
            CommandError,
            match=r"The target is not empty: database .* clinics; blob storage has \d+ objects",
        ):
            call_command("restore", stdout=io.StringIO())
        out = io.StringIO()
        call_command("restore", "--set", first.snapshot_id, "--force", stdout=out)
        assert "Overwrote: database" in out.getvalue()
        with clinic_context(stack.clinic.pk):
            assert Patient.objects.filter(pk=stack.patient.pk).exists()


def test_no_target_and_an_unknown_set_are_said(stack, target):
    with (
        override_settings(BACKUP_TARGET=""),
        pytest.raises(CommandError, match="No backup target: set BACKUP_TARGET"),
    ):
        call_command("backup", stdout=io.StringIO())
    services.backup_take()
    with stack.fresh(), pytest.raises(CommandError, match="No single backup set 'ffffffff'"):
        call_command("restore", "--set", "ffffffff", stdout=io.StringIO())


def test_a_second_backup_of_an_unchanged_bucket_fetches_no_object_and_adds_little(stack, target):
    first = services.backup_take()
    second = services.backup_take()
    assert first.fetched == first.object_count > 0
    assert second.fetched == 0 and second.object_count == first.object_count
    assert second.added < first.added
    out = io.StringIO()
    call_command("backup", stdout=out)
    assert "Backup set" in out.getvalue() and "MB new" in out.getvalue()


def test_sets_and_tombstones_older_than_retention_are_pruned(stack, target):
    services.backup_take()
    repository = Repository()
    assert services.backup_prune(repository=repository) == []
    later = timezone.now() + timedelta(days=36)
    with override_settings(BACKUP_RETENTION_DAYS=35):
        forgotten = services.backup_prune(repository=repository, now=later)
    assert len(forgotten) == 1
    assert repository.snapshots(SET_TAG) == []


def test_an_erasure_writes_its_tombstone_through_the_outbox_retried_while_the_target_is_down(
    stack, target, tmp_path
):
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    with override_settings(BACKUP_TARGET=str(blocked / "backups")):
        with clinic_context(stack.clinic.pk):
            erasure = patient_erase(
                clinic=stack.clinic,
                patient=stack.patient,
                by=stack.admin,
                confirmed=True,
                early_reason="The patient asked for erasure in writing",
            )
        with clinic_context(stack.clinic.pk):
            job = Job.objects.get(clinic=stack.clinic, task="backups.tasks.write_tombstone")
        assert job.state == "pending" and "cannot be made" in job.last_error
    assert job.kwargs == {"erasure_id": str(erasure.pk)}  # ids only
    from backups.tasks import write_tombstone
    from clinic.outbox import message_kwargs

    write_tombstone.apply(kwargs=message_kwargs(job))  # the target is back: the retry
    with clinic_context(stack.clinic.pk):
        job.refresh_from_db()
    assert job.state == "done"
    repository = Repository()
    [snapshot] = repository.snapshots(TOMBSTONE_TAG)
    body = repository.dump(snapshot.id, "/tombstone.json").decode()
    assert str(erasure.patient_id) in body and str(erasure.pk) in body
    for personal in ("Joanne", "Smith", "1985"):
        assert personal not in body.split('"erased_at"')[0]


def test_without_a_backup_target_an_erasure_owes_no_tombstone(stack, target):
    with override_settings(BACKUP_TARGET=""), clinic_context(stack.clinic.pk):
        patient_erase(
            clinic=stack.clinic,
            patient=stack.patient,
            by=stack.admin,
            confirmed=True,
            early_reason="The patient asked for erasure in writing",
        )
        assert not Job.objects.filter(
            clinic=stack.clinic, task="backups.tasks.write_tombstone"
        ).exists()


def test_a_failed_backup_and_a_missing_one_are_told_to_the_admins_once(stack, target):
    from django.core.cache import cache

    from backups.tasks import MISSING_TOLD

    cache.delete(MISSING_TOLD)
    BackupRun.objects.all().delete()  # the stack's runs: this test's story alone
    mail.outbox.clear()
    with override_settings(BACKUP_KEY="", BACKUP_KEY_FILE=""), pytest.raises(BackupKeyMissing):
        services.backup_take()
    assert backup_status().missing
    backup_watch()
    mine = [m for m in mail.outbox if stack.admin.email in m.to]
    subjects = sorted(m.subject for m in mine)
    assert any("failed" in s for s in subjects), subjects
    assert any("no backup for more than" in s for s in subjects), subjects
    failed = next(m for m in mine if "failed" in m.subject)
    assert "BACKUP_KEY" in failed.body
    mail.outbox.clear()
    backup_watch()  # told once
    assert not [m for m in mail.outbox if stack.admin.email in m.to]
    services.backup_take()
    status = backup_status()
    assert not status.missing and status.last_failed is None and status.last_ok.size > 0


def test_the_recovery_sheet_prints_the_keys_and_their_fingerprints(stack, target, settings):
    out = io.StringIO()
    call_command("recovery_sheet", stdout=out)
    sheet = out.getvalue()
    assert settings.MASTER_KEY in sheet and settings.BACKUP_KEY in sheet
    assert master_key_fingerprint() in sheet and fingerprint(settings.BACKUP_KEY) in sheet
    out = io.StringIO()
    call_command("recovery_sheet", "--fingerprints-only", stdout=out)
    assert settings.MASTER_KEY not in out.getvalue() and settings.BACKUP_KEY not in out.getvalue()
    assert fingerprint(settings.BACKUP_KEY) in out.getvalue()
    with (
        override_settings(BACKUP_KEY="", BACKUP_KEY_FILE=""),
        pytest.raises(CommandError, match="BACKUP_KEY"),
    ):
        call_command("recovery_sheet", stdout=io.StringIO())


def test_backup_verify_restores_into_scratch_and_checks_every_object_and_chain(stack, tmp_path):
    # A stack of its own, so that the check of every chain reads this test's story alone.
    with (
        override_settings(**stack.backup_settings(str(tmp_path / "backups"))),
        stack.fresh(migrated=True),
    ):
        clinic = f.make_clinic("Verified Clinic")
        admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
        patient = f.make_patient(clinic, admin)
        f.make_ready_photo(clinic, patient, f.make_episode(clinic, patient, admin), admin)
        call_command("audit_checkpoint", stdout=io.StringIO())
        services.backup_take()
        out = io.StringIO()
        call_command("backup_verify", stdout=out)
        assert "restored into scratch and checked: 3 objects decrypted" in out.getvalue()
        assert backup_status().last_verified is not None

        _flip_a_byte_of_the_largest_pack(tmp_path / "backups")
        with pytest.raises(CommandError, match="damaged"):
            call_command("backup_verify", stdout=io.StringIO())
        failed = BackupRun.objects.filter(kind="verify", ok=False).get()
        assert "damaged" in failed.error


def test_the_settings_page_shows_the_last_backup_and_a_failure_and_clinic_b_gets_404(stack, target):
    from django.urls import reverse

    BackupRun.objects.all().delete()  # the stack's runs: this test's story alone
    services.backup_take()
    with (
        override_settings(BACKUP_KEY="not-the-key-" + secrets.token_hex(8)),
        pytest.raises(BackupKeyWrong),
    ):
        services.backup_take()
    url = reverse("clinic_settings", kwargs={"clinic_slug": stack.clinic.slug})
    page = f.verified_client(stack.admin).get(url).content.decode()
    assert "Last backup:" in page and "encrypted files and the database" in page
    assert "failed: The backup key does not open the backups" in page
    stranger = f.make_member(f.make_clinic("Other Clinic"), Role.ADMIN)
    assert f.verified_client(stranger).get(url).status_code == 404


def test_a_second_backup_while_one_runs_is_refused_and_says_so(stack, target):
    from django.conf import settings

    from backups.services import _lock, _staging

    held = _lock(_staging())
    try:
        with pytest.raises(CommandError, match="Another backup is running"):
            call_command("backup", stdout=io.StringIO())
    finally:
        held.close()
    assert services.backup_take().ok
    assert (settings.BACKUP_STAGING_DIR / "set").is_dir()


def test_a_wrong_checkpoint_key_is_named_and_nothing_is_restored(stack, target):
    services.backup_take()
    with (
        stack.fresh(),
        override_settings(AUDIT_CHECKPOINT_KEY="another-checkpoint-key-" + secrets.token_hex(16)),
    ):
        with pytest.raises(services.RestoreRefused, match="AUDIT_CHECKPOINT_KEY is not the key"):
            services.restore()
        assert services.found_in_target() == []


def test_a_target_without_sets_says_so(stack, target):
    from backups.restic import BackupError

    Repository().init_if_missing()
    with stack.fresh(), pytest.raises(BackupError, match="There are no backup sets at"):
        services.restore()
