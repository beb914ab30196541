"""Ciphertext left in S3 by an upload whose transaction rolled back is swept; objects that a
Blob row owns, and recent ones, stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from clinic.tenancy import clinic_context
from photos.models import BlobPurpose
from tests import factories as f
from vault import orphans, storage
from vault.models import Blob


class RolledBack(Exception):
    pass


def _keys(s3_server) -> set[str]:
    """Every key in the bucket (the test session shares it: past 1,000 keys, one listing page
    is not the whole bucket)."""
    pages = s3_server.client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def test_a_rolled_back_uploads_object_is_swept_and_owned_ones_stay(committed_db, s3_server):
    clinic = f.make_clinic()
    with clinic_context(clinic.id):
        kept = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.ORIGINAL, data=b"x")
    with pytest.raises(RolledBack), clinic_context(clinic.id), transaction.atomic():
        orphan = storage.blob_store(clinic_id=clinic.id, purpose=BlobPurpose.ORIGINAL, data=b"y")
        raise RolledBack
    with clinic_context(clinic.id):
        assert not Blob.objects.filter(pk=orphan.pk).exists()
    assert {kept.object_name, orphan.object_name} <= _keys(s3_server)

    # Too recent: an upload may still be committing.
    assert orphans.delete_orphan_objects(older_than=timedelta(hours=1)) == 0
    assert orphan.object_name in _keys(s3_server)

    orphans.delete_orphan_objects(older_than=timedelta(0))
    keys = _keys(s3_server)
    assert orphan.object_name not in keys
    assert kept.object_name in keys
    with clinic_context(clinic.id):
        assert storage.blob_read(Blob.objects.get(pk=kept.pk)) == b"x"
