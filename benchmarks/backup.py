"""Backup and restore figures for `make bench`, each step in a child process of its own on the
embedded default (SQLite and encrypted blobs on local disk in temp dirs):

    python benchmarks/backup.py setup VAR_DIR TARGET    # a clinic with OBJECTS encrypted
                                                        # objects of OBJECT_BYTES (incompressible,
                                                        # as JPEGs are); the empty repository
    python benchmarks/backup.py backup VAR_DIR TARGET   # a plain copy of the same files, then a
                                                        # full backup set, then a second one of
                                                        # the unchanged stack
    python benchmarks/backup.py restore VAR_DIR TARGET  # the latest set onto an empty stack

``backup`` prints plain_copy_mb_s (shutil.copytree of the blob folder and a copy of the
database file, the baseline), backup_mb_s (the set's bytes over the time of
services.backup_take: the SQLite online backup, the mirror, restic's chunking, encryption and
writing, the manifest), backup_incremental_s and backup_full_s; ``restore`` prints
restore_mb_s (the same bytes over services.restore: restic's read and authentication, the
database load and every object written back) and restore_objects_s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OBJECTS = int(os.environ.get("BENCH_BACKUP_OBJECTS", "150"))
OBJECT_BYTES = 1024 * 1024
KEY = "bench-backup-key-not-secret-0123456789"


def _django(var_dir: str, target: str) -> None:
    os.environ["DJANGO_VAR_DIR"] = var_dir
    os.environ["BACKUP_TARGET"] = target
    os.environ["BACKUP_KEY"] = KEY
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def setup(var_dir: str, target: str) -> None:
    _django(var_dir, target)
    from django.core.management import call_command

    from clinic.models import Clinic
    from clinic.tenancy import clinic_context
    from vault.storage import blob_store

    call_command("migrate", verbosity=0)
    clinic = Clinic.objects.create(name="Bench Clinic", slug="bench-backup")
    with clinic_context(clinic.pk):
        for _ in range(OBJECTS):
            blob_store(clinic_id=clinic.pk, purpose="original", data=os.urandom(OBJECT_BYTES))
    from backups.restic import Repository

    Repository().init_if_missing()  # once per deployment, not part of a backup's cost
    print(json.dumps({"objects": OBJECTS}))


def backup(var_dir: str, target: str) -> None:
    _django(var_dir, target)
    from django.conf import settings

    from backups import services

    blobs = Path(settings.STORAGES["blobs"]["OPTIONS"]["location"])
    db = Path(settings.DATABASES["default"]["NAME"])
    with tempfile.TemporaryDirectory(prefix="bench-copy-", dir=Path(var_dir).parent) as copy:
        began = time.perf_counter()
        shutil.copytree(blobs, Path(copy) / "blobs")
        shutil.copyfile(db, Path(copy) / "db.sqlite3")
        copied = time.perf_counter() - began
        size = sum(p.stat().st_size for p in Path(copy).rglob("*") if p.is_file())
    began = time.perf_counter()
    full = services.backup_take(prune=False)
    full_s = time.perf_counter() - began
    began = time.perf_counter()
    again = services.backup_take(prune=False)
    incremental_s = time.perf_counter() - began
    print(
        json.dumps(
            {
                "plain_copy_mb_s": size / 1e6 / copied,
                "backup_mb_s": full.size / 1e6 / full_s,
                "backup_full_s": full_s,
                "backup_incremental_s": incremental_s,
                "backup_set_mb": full.size / 1e6,
                "backup_incremental_added_mb": again.added / 1e6,
            }
        )
    )


def restore(var_dir: str, target: str) -> None:
    _django(var_dir, target)
    from backups import services

    began = time.perf_counter()
    report = services.restore()
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in Path(var_dir).rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "restore_mb_s": size / 1e6 / seconds,
                "restore_s": seconds,
                "restore_objects_s": report.objects / seconds,
            }
        )
    )


if __name__ == "__main__":
    step, var, backups_target = sys.argv[1:4]
    {"setup": setup, "backup": backup, "restore": restore}[step](var, backups_target)
