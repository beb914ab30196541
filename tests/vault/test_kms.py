"""Clinic keys wrapped by AWS KMS (the S3 test server also speaks KMS)."""

import boto3
import pytest
from django.core.management import call_command
from django.test import override_settings

from clinic.tenancy import clinic_context
from tests import factories as f
from vault import keys, storage
from vault.models import Blob, ClinicKey


@pytest.fixture
def kms_key(s3_server):
    client = boto3.client(
        "kms",
        endpoint_url=s3_server.endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return client.create_key(Description="clinic photos test")["KeyMetadata"]["KeyId"]


def kms_settings(s3_server, key_id):
    return override_settings(
        KMS_KEY_ID=key_id, KMS_ENDPOINT_URL=s3_server.endpoint, AWS_REGION="eu-west-2"
    )


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


@pytest.mark.django_db
def test_master_key_clinic_keys_move_to_kms_without_reencrypting(cast, s3_server, kms_key, aws_env):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    with clinic_context(cast.clinic_a.id):
        original = Blob.objects.get(pk=photo.original_id)
    before = s3_server.client.get_object(Bucket=s3_server.bucket, Key=original.object_name)[
        "Body"
    ].read()
    with kms_settings(s3_server, kms_key):
        call_command("rotate_keys", "--clinic", cast.clinic_a.slug)
        keys.forget_cached_keys()
        with clinic_context(cast.clinic_a.id):
            record = ClinicKey.objects.get(clinic=cast.clinic_a, version=1)
            assert record.wrapped_by == f"kms:{kms_key}"
            assert storage.blob_read(Blob.objects.get(pk=photo.original_id))[:3] == (
                b"\xff\xd8\xff"
            )
        after = s3_server.client.get_object(Bucket=s3_server.bucket, Key=original.object_name)[
            "Body"
        ].read()
    assert after == before
    keys.forget_cached_keys()


@pytest.mark.django_db
def test_new_clinic_under_kms_stores_and_reads(cast, s3_server, kms_key, aws_env):
    with kms_settings(s3_server, kms_key):
        keys.forget_cached_keys()
        with clinic_context(cast.clinic_b.id):
            blob = storage.blob_store(
                clinic_id=cast.clinic_b.id, purpose="pdf", data=b"%PDF-1.7 test"
            )
            keys.forget_cached_keys()
            assert storage.blob_read(blob) == b"%PDF-1.7 test"
            assert ClinicKey.objects.get(clinic=cast.clinic_b).wrapped_by.startswith("kms:")
    keys.forget_cached_keys()
