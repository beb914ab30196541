"""Ciphertext nobody owns: an upload writes its object before its transaction commits, so a
rolled-back upload leaves an encrypted object with no Blob row. It is unreadable without that
row's wrapped key, but it still takes space; the hourly sweep deletes it.

Bounded: one run looks at SCAN_LIMIT objects at most (S3 continues where the last run stopped)
and deletes those older than the grace period whose id no clinic's Blob table knows.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from clinic.models import Clinic
from clinic.tenancy import clinic_context
from vault import storage
from vault.models import Blob

logger = logging.getLogger(__name__)

SCAN_LIMIT = 10_000
BATCH = 1_000
CURSOR_KEY = "orphan-objects:after"
_OPAQUE = re.compile(r"[0-9a-f]{32}")


def _old_objects(store, cutoff: datetime) -> list[str]:
    """Names of objects written before ``cutoff``, at most SCAN_LIMIT looked at."""
    names: list[str] = []
    if hasattr(store, "bucket"):  # S3
        client = store.connection.meta.client
        start_after = cache.get(CURSOR_KEY, "")
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket_name,
            StartAfter=start_after,
            PaginationConfig={"MaxItems": SCAN_LIMIT, "PageSize": BATCH},
        )
        last = ""
        for page in pages:
            for item in page.get("Contents", []):
                last = item["Key"]
                if item["LastModified"] < cutoff:
                    names.append(item["Key"])
        # A short listing reached the end: the next run starts from the beginning again.
        cache.set(CURSOR_KEY, last if len(names) >= SCAN_LIMIT else "", None)
        return names
    with os.scandir(store.location) as entries:
        for n, entry in enumerate(entries):
            if n >= SCAN_LIMIT:
                break
            if entry.is_file() and entry.stat().st_mtime < cutoff.timestamp():
                names.append(entry.name)
    return names


def delete_orphan_objects(*, older_than: timedelta) -> int:
    """Delete objects older than ``older_than`` that have no Blob row; returns how many."""
    store = storage._storage()
    cutoff = timezone.now().astimezone(UTC) - older_than
    try:
        names = [n for n in _old_objects(store, cutoff) if _OPAQUE.fullmatch(n)]
    except storage.STORAGE_ERRORS as error:
        logger.error("orphan sweep could not list blob storage: %s", error)
        return 0
    deleted = 0
    clinics = list(Clinic.objects.values_list("id", flat=True))
    for start in range(0, len(names), BATCH):
        batch = {uuid.UUID(n): n for n in names[start : start + BATCH]}
        known: set[uuid.UUID] = set()
        for clinic_id in clinics:  # Blob rows are visible only inside their clinic's context
            with clinic_context(clinic_id):
                known.update(Blob.objects.filter(pk__in=batch).values_list("id", flat=True))
        for blob_id, name in batch.items():
            if blob_id not in known:
                store.delete(name)
                deleted += 1
    if deleted:
        logger.info("orphan sweep deleted %d object(s) with no Blob row", deleted)
    return deleted
