"""Backups, restores and their checks, each a named action (docs/operations.md, "Backups").

A backup set is one restic snapshot of the staging folder:
``manifest.json`` (what the set holds, the fingerprints of the keys it needs),
the database copy (``database.pgdump`` or ``database.sqlite3``) and ``objects/`` (every
object of blob storage, under its name). The database copy is taken first and lists the
objects it refers to from the same snapshot; the objects are mirrored after it, so every
object the copy refers to is in the set (an object erased in between is named in the
manifest as missing, and its patient's tombstone erases them again at restore)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit.services import record
from backups import database, objects, restic, tombstones
from backups.keys import checkpoint_key_fingerprint, fingerprint, master_key_fingerprint
from backups.models import BackupRun

logger = logging.getLogger("backups")
MANIFEST = "manifest.json"
FORMAT = "clinicphotos-backup-set/1"
SET_FOLDER = "set"


class RestoreRefused(restic.BackupError):
    """The restore would overwrite data, or a key it needs is not the one the set was made with."""


def _staging() -> Path:
    path = settings.BACKUP_STAGING_DIR / SET_FOLDER
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _record(action: str, details: dict) -> None:
    record(clinic=None, action=action, actor_label="system (backups)", details=details)


# --- backup -----------------------------------------------------------------------------------


def backup_take(*, target: str | None = None, prune: bool = True) -> BackupRun:
    """Take a backup set (database, every object, the manifest) to ``target`` (BACKUP_TARGET
    by default), then forget sets older than BACKUP_RETENTION_DAYS. The run is recorded, failed
    or not; a failure raises BackupError (or BackupKeyMissing) with what to do."""
    run = BackupRun.objects.create(
        kind=BackupRun.Kind.BACKUP,
        target=target or settings.BACKUP_TARGET,
        started_at=timezone.now(),
    )
    lock = None
    try:
        repository = restic.Repository(target)
        repository.init_if_missing()
        staging = _staging()
        lock = _lock(staging)
        for old in staging.glob("database.*"):
            old.unlink()
        taken_at = timezone.now()
        db_file, referenced = database.dump(staging)
        listed, fetched = objects.mirror(staging / "objects", taken_at=taken_at)
        missing = sorted(set(referenced) - set(listed))
        manifest = {
            "format": FORMAT,
            "taken_at": taken_at.isoformat(),
            "database": {
                "engine": database.vendor(),
                "file": db_file,
                "sha256": _sha256(staging / db_file),
                "size": (staging / db_file).stat().st_size,
            },
            # Every object the database refers to (its Blob rows), and every object copied.
            "objects_referenced": sorted(referenced),
            "objects_missing": missing,
            "objects": listed,
            "keys": {
                "master_key": master_key_fingerprint(),
                "audit_checkpoint_key": checkpoint_key_fingerprint(),
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        out = repository.run(
            "backup", "--json", "--host", restic.HOST, "--tag", restic.SET_TAG, str(staging)
        )
        summary = restic._summary(out)
        run.snapshot_id = summary["snapshot_id"]
        run.size = int(summary["total_bytes_processed"])
        run.added = int(summary["data_added"])
        run.object_count = len(listed)
        run.fetched = fetched
        run.ok = True
        if missing:
            logger.warning(
                "backup %s: %d referenced objects were gone", run.snapshot_id, len(missing)
            )
    except Exception as error:
        run.error = str(error)[:2000]
        raise
    finally:
        if lock is not None:
            lock.close()
        run.finished_at = timezone.now()
        run.save()
    _record(
        "backup.taken",
        {
            "set": run.snapshot_id,
            "bytes": run.size,
            "bytes_added": run.added,
            "objects": run.object_count,
            "objects_fetched": run.fetched,
        },
    )
    if prune:
        backup_prune(repository=repository)
    return run


def _lock(staging: Path):
    """Hold the staging folder for this backup alone (a manual backup beside the beat's would
    mirror into the same folder); released when the returned file is closed."""
    import fcntl

    handle = (staging / ".lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise restic.BackupError(
            f"Another backup is running (it holds {staging}); this one was not taken."
        ) from None
    return handle


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_prune(*, repository: restic.Repository, now=None) -> list[str]:
    """Forget (and delete the data of) every set and tombstone older than
    BACKUP_RETENTION_DAYS, so an erasure is complete on the day its page gives. The ids."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BACKUP_RETENTION_DAYS)
    kept_by_age = {restic.SET_TAG, restic.TOMBSTONE_TAG}
    old = [s.id for s in repository.snapshots() if s.time < cutoff and kept_by_age & set(s.tags)]
    repository.forget(old)
    if old:
        _record("backup.pruned", {"sets": len(old), "older_than": cutoff.isoformat()})
    return old


# --- restore ----------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    snapshot: restic.Snapshot
    database: str
    objects: int
    replayed: list[tombstones.Tombstone] = field(default_factory=list)
    overwrote: list[str] = field(default_factory=list)


def sets(*, target: str | None = None) -> list[restic.Snapshot]:
    """The backup sets at the target, oldest first."""
    return restic.Repository(target).snapshots(restic.SET_TAG)


def _choose(repository: restic.Repository, set_id: str | None) -> restic.Snapshot:
    available = repository.snapshots(restic.SET_TAG)
    if not available:
        raise restic.BackupError(f"There are no backup sets at {repository.target}.")
    if not set_id:
        return available[-1]
    chosen = [s for s in available if s.id.startswith(set_id)]
    if len(chosen) != 1:
        listed = ", ".join(s.label for s in available[-10:])
        raise restic.BackupError(
            f"No single backup set {set_id!r} at {repository.target}; the latest are: {listed}."
        )
    return chosen[0]


def found_in_target() -> list[str]:
    """What the database and blob storage already hold (empty list: a fresh stack)."""
    return [found for found in (database.found_in_target(), objects.found_in_target()) if found]


def restore(
    *, target: str | None = None, set_id: str | None = None, force: bool = False
) -> RestoreReport:
    """Restore a backup set (the latest by default) onto this stack's database and blob
    storage, then replay every erasure tombstone at the target. Refuses a database or bucket
    that holds anything unless ``force``; refuses keys that are not the set's before it changes
    anything; a set that fails its authentication is refused whole."""
    repository = restic.Repository(target)
    snapshot = _choose(repository, set_id)
    found = found_in_target()
    if found and not force:
        raise RestoreRefused(
            "The target is not empty: " + "; ".join(found) + ". Nothing was restored. Restore "
            "onto a fresh database and an empty bucket, or pass --force to overwrite them."
        )
    settings.BACKUP_STAGING_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=settings.BACKUP_STAGING_DIR, prefix="restore-") as tmp:
        repository.restore(snapshot.id, Path(tmp))
        set_dir, manifest = _read_set(Path(tmp), snapshot)
        _check_keys(manifest)
        database.load(set_dir, manifest["database"]["file"], replace=bool(found))
        count = objects.upload(set_dir / "objects")
    # The run that took this set was in progress when its database was copied.
    BackupRun.objects.filter(kind=BackupRun.Kind.BACKUP, finished_at__isnull=True).update(
        ok=True, finished_at=snapshot.time, snapshot_id=snapshot.short_id
    )
    replayed = tombstones.replay(repository)
    _record(
        "backup.restored",
        {
            "set": snapshot.short_id,
            "set_time": snapshot.time.isoformat(),
            "objects": count,
            "tombstones_replayed": len(replayed),
            "overwrote": bool(found),
        },
    )
    return RestoreReport(
        snapshot=snapshot,
        database=manifest["database"]["file"],
        objects=count,
        replayed=replayed,
        overwrote=found,
    )


def _read_set(root: Path, snapshot: restic.Snapshot) -> tuple[Path, dict]:
    """The set's folder and manifest, checked against what was restored."""
    found = sorted(root.rglob(MANIFEST), key=lambda p: len(p.parts))
    if not found:
        raise restic.BackupDamaged(f"Backup set {snapshot.label} has no {MANIFEST}.")
    set_dir = found[0].parent
    manifest = json.loads(found[0].read_text())
    if manifest.get("format") != FORMAT:
        raise restic.BackupDamaged(f"Backup set {snapshot.label} is not a {FORMAT} set.")
    db = manifest["database"]
    if _sha256(set_dir / db["file"]) != db["sha256"]:
        raise restic.BackupDamaged(
            f"Backup set {snapshot.label}: the database copy does not match its manifest."
        )
    absent = [
        name
        for name, size in manifest["objects"].items()
        if not (set_dir / "objects" / name).is_file()
        or (set_dir / "objects" / name).stat().st_size != size
    ]
    if absent:
        raise restic.BackupDamaged(
            f"Backup set {snapshot.label}: {len(absent)} objects of its manifest are missing "
            f"or of another size (first: {absent[0]})."
        )
    return set_dir, manifest


def _check_keys(manifest: dict) -> None:
    """The master key and the checkpoint key must be those the set was taken with: name the
    one that is not, before anything is changed."""
    import base64

    keys = manifest["keys"]
    masters = {master_key_fingerprint()} | {
        fingerprint(base64.b64decode(k)) for k in settings.MASTER_KEYS_PREVIOUS
    }
    if keys["master_key"] not in masters:
        raise RestoreRefused(
            "MASTER_KEY is not the master key this backup set was taken with (the set needs "
            f"the key with fingerprint {keys['master_key']}, this stack has "
            f"{master_key_fingerprint()}): without it no photo can be decrypted. Set MASTER_KEY "
            "from the recovery sheet. Nothing was restored."
        )
    if keys["audit_checkpoint_key"] != checkpoint_key_fingerprint():
        raise RestoreRefused(
            "AUDIT_CHECKPOINT_KEY is not the key this backup set's audit checkpoints were "
            f"signed with (fingerprint {keys['audit_checkpoint_key']}, this stack has "
            f"{checkpoint_key_fingerprint()}). Set it from the recovery sheet. Nothing was "
            "restored."
        )


def remove_staging() -> None:
    """Delete the staging folder (the mirror is fetched again at the next backup)."""
    shutil.rmtree(settings.BACKUP_STAGING_DIR / SET_FOLDER, ignore_errors=True)


# --- verification -----------------------------------------------------------------------------

CHECK_COMMAND = "restore_check"


def backup_verify(*, target: str | None = None) -> BackupRun:
    """Restore the latest set into a scratch database and a scratch blob folder (a child
    process, configured for them alone), decrypt every object the set's database refers to and
    verify every audit chain against the set's checkpoints; then drop the scratch. Recorded,
    failed or not; a failure raises BackupError with what was wrong."""
    run = BackupRun.objects.create(
        kind=BackupRun.Kind.VERIFY,
        target=target or settings.BACKUP_TARGET,
        started_at=timezone.now(),
    )
    scratch_db = ""
    try:
        repository = restic.Repository(target)
        snapshot = _choose(repository, None)
        run.snapshot_id = snapshot.short_id
        settings.BACKUP_STAGING_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=settings.BACKUP_STAGING_DIR, prefix="verify-") as tmp:
            env = _scratch_env(Path(tmp), repository)
            if database.vendor() == "postgresql":
                scratch_db, env["DATABASE_URL"] = database.scratch_create()
            _child(env, "restore", "--from", repository.target, "--set", snapshot.id)
            out = _child(env, CHECK_COMMAND)
        run.object_count = int(out.split("objects=", 1)[1].split()[0])
        run.ok = True
    except Exception as error:
        run.error = str(error)[:2000]
        raise
    finally:
        if scratch_db:
            database.scratch_drop(scratch_db)
        run.finished_at = timezone.now()
        run.save()
    _record("backup.verified", {"set": run.snapshot_id, "objects": run.object_count})
    return run


def _scratch_env(root: Path, repository: restic.Repository) -> dict[str, str]:
    """The child's environment: this stack's keys, the scratch places, nothing of the live
    stack's database, bucket, broker or mail server."""
    import os

    live = ("DATABASE_", "S3_", "REDIS_", "EMAIL_", "BACKUP_", "CELERY_", "SENTRY_")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(live) and not k.endswith("_FILE")
    }
    env.update(
        DJANGO_VAR_DIR=str(root / "var"),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        MASTER_KEY=settings.MASTER_KEY,
        MASTER_KEYS_PREVIOUS=",".join(settings.MASTER_KEYS_PREVIOUS),
        KMS_KEY_ID=settings.KMS_KEY_ID,
        AUDIT_CHECKPOINT_KEY=settings.AUDIT_CHECKPOINT_KEY,
        BACKUP_TARGET=repository.target,
        BACKUP_KEY=repository.key,
        BACKUP_STAGING_DIR=str(root / "staging"),
        BACKUP_S3_ENDPOINT_URL=settings.BACKUP_S3_ENDPOINT_URL,
        BACKUP_S3_ACCESS_KEY_ID=settings.BACKUP_S3_ACCESS_KEY_ID,
        BACKUP_S3_SECRET_ACCESS_KEY=settings.BACKUP_S3_SECRET_ACCESS_KEY,
        EMAIL_URL="dummymail://",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="WARNING",
    )
    return env


def _child(env: dict[str, str], *command: str) -> str:
    import subprocess
    import sys

    completed = subprocess.run(  # noqa: S603 - our interpreter and manage.py, no shell
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *command],
        env=env,
        capture_output=True,
        cwd=settings.BASE_DIR,
        check=False,
    )
    out = completed.stdout.decode(errors="replace")
    if completed.returncode != 0:
        said = (completed.stderr.decode(errors="replace") + out).strip().splitlines()
        raise restic.BackupError(
            f"The check of the latest set failed at `{command[0]}`: "
            + (" / ".join(said[-6:]) if said else f"exit status {completed.returncode}")
        )
    return out
