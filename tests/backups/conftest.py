"""A backup target, a backup key and a fresh, empty stack to restore onto: a new PostgreSQL
database and a new S3 bucket on the test SeaweedFS server, or, on the embedded default, a new
SQLite file and a new blob folder. The app is pointed at the fresh stack while the test
restores and looks, and back at the test database afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from clinic.rls import APP_ROLE, OWNER_ROLE
from tests.conftest import EMBEDDED, S3_REGION, s3_blob_storage, superuser

BACKUP_KEY = "backup-key-for-tests-" + secrets.token_hex(16)


def _superuser_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def _forget_cached_keys() -> None:
    """What this process remembers of the first stack (unwrapped keys, ciphertext), so that
    what is read after a restore comes from the restored stack."""
    from vault import keys, storage

    keys._cache.clear()
    storage._cache.clear()


def _migrate() -> None:
    """Make the tables as the owner role (the app role then connects), as the test setup does."""
    from django.core.management import call_command

    db = connections["default"].settings_dict
    user = db["USER"]
    if not EMBEDDED:
        db["USER"] = OWNER_ROLE
    call_command("migrate", verbosity=0, interactive=False)
    connections.close_all()
    db["USER"] = user


class Stack:
    """Where the app's database and blobs are, and how to make a fresh, empty pair."""

    def __init__(self, request, tmp_path: Path) -> None:
        self.request = request
        self.tmp = tmp_path
        self.made_databases: list[str] = []
        self.s3 = None if EMBEDDED else request.getfixturevalue("s3_server")

    def backup_settings(self, target: str) -> dict:
        extra: dict = {}
        if not EMBEDDED:
            extra["BACKUP_DATABASE_URL"] = _superuser_url(
                connections["default"].settings_dict["NAME"]
            )
        return {
            "BACKUP_TARGET": target,
            "BACKUP_KEY": BACKUP_KEY,
            "BACKUP_KEY_FILE": "",
            "BACKUP_STAGING_DIR": self.tmp / "staging",
            **extra,
        }

    def s3_target(self) -> dict:
        """A second bucket on the S3 server as the backup target (restic signs as admin)."""
        bucket = f"clinic-backups-{secrets.token_hex(4)}"
        self.s3.client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
        )
        return {
            "BACKUP_TARGET": f"s3:{self.s3.endpoint}/{bucket}",
            "BACKUP_S3_ACCESS_KEY_ID": self.s3.admin[0],
            "BACKUP_S3_SECRET_ACCESS_KEY": self.s3.admin[1],
        }

    @contextmanager
    def fresh(self, *, migrated: bool = False) -> Iterator[None]:
        """The app on a fresh database and an empty bucket (or folder) until the block ends;
        ``migrated``: with the tables made (a new stack of its own, not a restore target)."""
        db = connections["default"].settings_dict
        before = db["NAME"]
        if EMBEDDED:
            fresh_name = str(self.tmp / f"restored-{secrets.token_hex(3)}.db")
            storage = {
                **settings.STORAGES["blobs"],
                "OPTIONS": {
                    **settings.STORAGES["blobs"]["OPTIONS"],
                    "location": str(self.tmp / f"blobs-{secrets.token_hex(3)}"),
                },
            }
            extra: dict = {}
        else:
            fresh_name = f"clinicphotos_test_restore_{os.getpid()}_{secrets.token_hex(3)}"
            with superuser() as conn:
                conn.execute(f"CREATE DATABASE {fresh_name} OWNER {OWNER_ROLE}")
            self.made_databases.append(fresh_name)
            bucket = f"clinic-restored-{secrets.token_hex(4)}"
            self.s3.client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": S3_REGION}
            )
            storage = s3_blob_storage(self.s3.endpoint, bucket, self.s3.admin)
            extra = {"BACKUP_DATABASE_URL": _superuser_url(fresh_name)}
        connections.close_all()
        _forget_cached_keys()
        db["NAME"] = fresh_name
        override = override_settings(
            STORAGES={**settings.STORAGES, "default": storage, "blobs": storage}, **extra
        )
        override.enable()
        try:
            if migrated:
                _migrate()
            yield
        finally:
            override.disable()
            connections.close_all()
            _forget_cached_keys()
            db["NAME"] = before
            assert db["USER"] in (APP_ROLE, "") or EMBEDDED

    def close(self) -> None:
        connections.close_all()
        for name in self.made_databases:
            with superuser() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def stack(request, committed_db, tmp_path) -> Iterator[Stack]:
    made = Stack(request, tmp_path)
    yield made
    made.close()
