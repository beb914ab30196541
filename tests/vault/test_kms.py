"""Clinic keys wrapped by AWS KMS.

KMS is the one AWS service these tests need that SeaweedFS, their S3 server, does not provide,
so these tests alone talk to moto_server (moto's AWS emulation, for KMS only) on a free
loopback port; the photos' objects still go to SeaweedFS."""

import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.test import override_settings

from clinic.tenancy import clinic_context
from tests import factories as f
from tests.conftest import _die_with_parent, _fail, _free_port, _port_open, wait_until
from vault import keys, storage
from vault.models import Blob, ClinicKey


@pytest.fixture(scope="module")
def kms_endpoint():
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    try:
        if not wait_until(lambda: _port_open(port), timeout=30, step=0.1):
            _fail("moto_server (KMS) did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def kms_key(kms_endpoint):
    client = boto3.client(
        "kms",
        endpoint_url=kms_endpoint,
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return client.create_key(Description="clinic photos test")["KeyMetadata"]["KeyId"]


def kms_settings(endpoint, key_id):
    return override_settings(KMS_KEY_ID=key_id, KMS_ENDPOINT_URL=endpoint, AWS_REGION="eu-west-2")


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


@pytest.mark.django_db
def test_master_key_clinic_keys_move_to_kms_without_reencrypting(
    cast, s3_server, kms_endpoint, kms_key, aws_env
):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    with clinic_context(cast.clinic_a.id):
        original = Blob.objects.get(pk=photo.original_id)
    before = s3_server.client.get_object(Bucket=s3_server.bucket, Key=original.object_name)[
        "Body"
    ].read()
    with kms_settings(kms_endpoint, kms_key):
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
def test_new_clinic_under_kms_stores_and_reads(cast, kms_endpoint, kms_key, aws_env):
    with kms_settings(kms_endpoint, kms_key):
        keys.forget_cached_keys()
        with clinic_context(cast.clinic_b.id):
            blob = storage.blob_store(
                clinic_id=cast.clinic_b.id, purpose="pdf", data=b"%PDF-1.7 test"
            )
            keys.forget_cached_keys()
            assert storage.blob_read(blob) == b"%PDF-1.7 test"
            assert ClinicKey.objects.get(clinic=cast.clinic_b).wrapped_by.startswith("kms:")
    keys.forget_cached_keys()
