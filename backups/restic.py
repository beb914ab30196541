"""The backup repository, through restic (Debian package ``restic``): an established format
that encrypts and authenticates every file (AES-256 in counter mode with Poly1305), stores each
chunk once (so an object already in an earlier set costs nothing), and keeps snapshots that can
be listed, restored and forgotten. This module only runs restic and turns what it says into
errors a person can act on; the choices of what goes into a set are in ``services``.

A target is a folder, ``s3://bucket/prefix`` (AWS, or BACKUP_S3_ENDPOINT_URL) or restic's own
repository string (``s3:http://host:port/bucket``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

from backups.keys import backup_key

HOST = "clinicphotos"  # every snapshot's host, so that sets group as one whatever the machine
SET_TAG = "backup-set"
TOMBSTONE_TAG = "erasure-tombstone"
TOMBSTONE_FILE = "tombstone.json"


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


def executable(name: str, package: str) -> str:
    """The full path of a program backups run (never through a shell)."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian package {package}).")
    return path


class BackupTargetMissing(BackupError):
    pass


class BackupKeyWrong(BackupError):
    pass


class BackupDamaged(BackupError):
    pass


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    tags: tuple[str, ...]
    paths: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.short_id} ({self.time:%Y-%m-%d %H:%M:%S %Z})"


def repository_of(target: str) -> str:
    """restic's spelling of a target."""
    if target.startswith("s3://"):
        endpoint = (settings.BACKUP_S3_ENDPOINT_URL or "https://s3.amazonaws.com").rstrip("/")
        return f"s3:{endpoint}/{target.removeprefix('s3://')}"
    return target


def describe(target: str) -> str:
    """A target as a person reads it (no credentials: they are never in the target)."""
    return target


class Repository:
    """One restic repository, opened with the backup key."""

    def __init__(self, target: str | None = None) -> None:
        target = target or settings.BACKUP_TARGET
        if not target:
            raise BackupTargetMissing(
                "No backup target: set BACKUP_TARGET (a folder or an s3:// URL) or pass --to."
            )
        self.restic = executable("restic", "restic")
        self.target = target
        self.repository = repository_of(target)
        self.key = backup_key()  # BackupKeyMissing names the variable

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
        env.update(RESTIC_REPOSITORY=self.repository, RESTIC_PASSWORD=self.key)
        # Objects are AES-GCM ciphertext and pg_dump's custom format is compressed already:
        # trying zstd on them costs time and saves nothing.
        env["RESTIC_COMPRESSION"] = "off"
        env["RESTIC_CACHE_DIR"] = str(settings.BACKUP_STAGING_DIR / "restic-cache")
        if settings.BACKUP_S3_ACCESS_KEY_ID:
            env["AWS_ACCESS_KEY_ID"] = settings.BACKUP_S3_ACCESS_KEY_ID
            env["AWS_SECRET_ACCESS_KEY"] = settings.BACKUP_S3_SECRET_ACCESS_KEY
        return env

    def run(self, *args: str, stdin: bytes | None = None, cwd: Path | None = None) -> str:
        """restic ``args``; its output, or a BackupError that says what went wrong."""
        completed = subprocess.run(  # noqa: S603 - our arguments, no shell
            [self.restic, "--quiet", *args],
            input=stdin,
            capture_output=True,
            env=self._env(),
            cwd=cwd,
            check=False,
        )
        if completed.returncode != 0:
            raise self._error(args[0], completed.stderr.decode(errors="replace"))
        return completed.stdout.decode(errors="replace")

    def _error(self, action: str, stderr: str) -> BackupError:
        text = stderr.strip()
        where = describe(self.target)
        if "wrong password" in text:
            return BackupKeyWrong(
                f"The backup key does not open the backups at {where}: BACKUP_KEY (or "
                "BACKUP_KEY_FILE) is not the key they were made with (see the recovery sheet)."
            )
        if "Is there a repository" in text or "does not exist" in text:
            return BackupTargetMissing(f"There are no backups at {where} ({_last_line(text)}).")
        if any(
            sign in text
            for sign in (
                "ciphertext verification failed",
                "hash does not match",
                "unexpected EOF",
                "invalid data returned",
                "checksum",
            )
        ):
            return BackupDamaged(
                f"The backup set at {where} is damaged: restic found data that fails its "
                f"authentication ({_last_line(text)}). Nothing was restored; restore an older "
                "set (--set) or run `restic check` on the repository."
            )
        return BackupError(f"restic {action} failed at {where}: {_last_line(text)}")

    # --- the repository ---------------------------------------------------------------------

    def exists(self) -> bool:
        if self.is_folder:
            return (Path(self.target) / "config").is_file()  # no restic start for a folder
        try:
            self.run("cat", "config")
        except BackupTargetMissing:
            return False
        return True

    def init_if_missing(self) -> bool:
        """Create the repository when the target holds none; True when it was created."""
        if self.exists():
            return False
        if self.is_folder:
            try:
                Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise BackupError(
                    f"The backup folder {self.target} cannot be made: {error.strerror}."
                ) from error
        self.run("init")
        return True

    @property
    def is_folder(self) -> bool:
        return self.repository == self.target and not self.target.startswith(
            ("s3:", "sftp:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:")
        )

    def snapshots(self, tag: str | None = None) -> list[Snapshot]:
        """Snapshots (with ``tag``), oldest first."""
        out = self.run("snapshots", "--json", *(["--tag", tag] if tag else []))
        found = [
            Snapshot(
                id=s["id"],
                short_id=s["short_id"],
                time=datetime.fromisoformat(_iso(s["time"])),
                tags=tuple(s.get("tags") or ()),
                paths=tuple(s.get("paths") or ()),
            )
            for s in json.loads(out or "[]")
        ]
        return sorted(found, key=lambda s: s.time)

    def backup(self, paths: list[str], *, tags: list[str], cwd: Path) -> str:
        """A snapshot of ``paths`` (relative to ``cwd``); its id."""
        tag_args = [arg for tag in tags for arg in ("--tag", tag)]
        out = self.run("backup", "--json", "--host", HOST, *tag_args, *paths, cwd=cwd)
        return _summary(out)["snapshot_id"]

    def backup_stdin(self, data: bytes, *, filename: str, tags: list[str]) -> str:
        tag_args = [arg for tag in tags for arg in ("--tag", tag)]
        out = self.run(
            "backup",
            "--json",
            "--host",
            HOST,
            "--stdin",
            "--stdin-filename",
            filename,
            *tag_args,
            stdin=data,
        )
        return _summary(out)["snapshot_id"]

    def restore(self, snapshot_id: str, into: Path) -> None:
        """Every file of the snapshot under ``into``; each chunk's authentication is checked."""
        self.run("restore", snapshot_id, "--target", str(into))

    def dump(self, snapshot_id: str, path: str) -> bytes:
        completed = subprocess.run(  # noqa: S603 - our arguments, no shell
            [self.restic, "--quiet", "dump", snapshot_id, path],
            capture_output=True,
            env=self._env(),
            check=False,
        )
        if completed.returncode != 0:
            raise self._error("dump", completed.stderr.decode(errors="replace"))
        return completed.stdout

    def forget(self, snapshot_ids: list[str]) -> None:
        """Forget the snapshots and delete the data only they used."""
        if snapshot_ids:
            self.run("forget", "--prune", *snapshot_ids)

    def stats_size(self, snapshot_id: str) -> int:
        """Bytes the snapshot's files take when restored."""
        out = self.run("stats", "--json", "--mode", "restore-size", snapshot_id)
        return int(json.loads(out)["total_size"])


def _summary(out: str) -> dict:
    for line in reversed(out.splitlines()):
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("message_type") == "summary":
            return message
    raise BackupError(f"restic backup gave no summary: {out[-300:]}")


def _iso(value: str) -> str:
    # restic writes nanoseconds (9 digits); Python reads up to microseconds.
    head, _, rest = value.partition(".")
    if not rest:
        return value
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :]
    return f"{head}.{digits[:6]}{'+00:00' if zone == 'Z' else zone}"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
