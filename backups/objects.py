"""The bucket's part of a backup set: every object of blob storage (photos, renditions,
signatures, PDFs, comparisons, exports, audit checkpoints), mirrored into the staging folder
before each set and written back by a restore. Encrypted objects never change once written,
so the mirror fetches only names it has not seen: an unchanged bucket costs a listing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from django.core.files.storage import storages

from audit.checkpoints import PREFIX as CHECKPOINTS


def _storage():
    return storages["blobs"]


def _is_s3(storage) -> bool:
    return hasattr(storage, "bucket_name")


def listing() -> dict[str, int]:
    """{object name: size} of every object in blob storage."""
    storage = _storage()
    if _is_s3(storage):
        return {o.key: o.size for o in storage.bucket.objects.all()}
    root = Path(storage.location)
    if not root.exists():
        return {}
    found = {}
    for path in _files(root):
        found[path.relative_to(root).as_posix()] = path.stat().st_size
    return found


def _files(root: Path) -> Iterator[Path]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def mirror(into: Path, *, taken_at: datetime) -> tuple[dict[str, int], int]:
    """Make ``into`` hold exactly the bucket's objects, fetching only new ones. Returns the
    listing and how many objects were fetched.

    Audit checkpoints signed after ``taken_at`` (the database copy's moment) are left for the
    next set: they could name events the copy does not hold, and verify_audit would then find
    the restored chain behind its checkpoint."""
    storage = _storage()
    objects = {
        name: size for name, size in listing().items() if not _checkpoint_after(name, taken_at)
    }
    into.mkdir(parents=True, exist_ok=True)
    fetched = 0
    for name, size in objects.items():
        local = into / name
        if local.exists() and local.stat().st_size == size:
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".partial")
        if _is_s3(storage):
            storage.bucket.download_file(name, str(partial))
        else:
            source = Path(storage.location) / name
            try:
                os.link(source, partial)  # same disk: no copy, and the file never changes
            except OSError:
                shutil.copyfile(source, partial)
        partial.replace(local)
        fetched += 1
    for path in list(_files(into)):
        if path.relative_to(into).as_posix() not in objects:
            path.unlink()  # gone from the bucket (erased, expired): gone from the next set
    return objects, fetched


def _checkpoint_after(name: str, moment: datetime) -> bool:
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != CHECKPOINTS or not parts[2].endswith(".json"):
        return False
    try:
        stamp = datetime.strptime(parts[2].removesuffix(".json"), "%Y%m%dT%H%M%S%fZ")
    except ValueError:
        return False
    return stamp.replace(tzinfo=UTC) >= moment


def upload(directory: Path) -> int:
    """Write every object under ``directory`` into blob storage under its name."""
    storage = _storage()
    count = 0
    for path in _files(directory):
        name = path.relative_to(directory).as_posix()
        if _is_s3(storage):
            storage.bucket.upload_file(
                str(path), name, ExtraArgs={"ContentType": "application/octet-stream"}
            )
        else:
            target = Path(storage.location) / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copyfile(path, target)
            target.chmod(0o600)
        count += 1
    return count


def found_in_target() -> str:
    """What blob storage holds ('' when empty)."""
    objects = listing()
    if not objects:
        return ""
    return f"blob storage has {len(objects)} objects ({sum(objects.values())} bytes)"
