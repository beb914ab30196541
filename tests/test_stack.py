"""The tests really run on the production stack, as the app role that RLS binds."""

import urllib.error
import urllib.request
import uuid

import pytest
import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection

pytestmark = pytest.mark.django_db


def test_database_is_postgresql_as_a_role_that_rls_binds():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        user, is_super, bypasses_rls = cursor.fetchone()
    assert user == "clinic_app"
    assert not is_super
    assert not bypasses_rls


def test_redis_answers():
    assert settings.REDIS_URL.startswith("redis://127.0.0.1")
    assert redis.Redis.from_url(settings.REDIS_URL).ping()


def test_blob_storage_is_the_s3_server_on_loopback(s3_server):
    storage = storages["blobs"]
    assert storage.endpoint_url.startswith("http://127.0.0.1:")
    name = storage.save("probe/object", ContentFile(b"ciphertext-only"))
    try:
        assert storage.open(name).read() == b"ciphertext-only"
        head = s3_server.client.head_object(Bucket=s3_server.bucket, Key=name)
        assert head["ContentLength"] == len(b"ciphertext-only")
    finally:
        storage.delete(name)


# --- the S3 server refuses whoever is not the app, and the app anything beyond its bucket ------


def _status(call) -> int:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def stored(s3_server):
    """An object the app stored, removed again afterwards."""
    key = f"probe/{uuid.uuid4().hex}"
    app = s3_server.s3_client(*s3_server.app)
    app.put_object(Bucket=s3_server.bucket, Key=key, Body=b"ciphertext-only")
    yield key
    app.delete_object(Bucket=s3_server.bucket, Key=key)


def _unsigned(method: str, url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_s3_refuses_unsigned_requests(s3_server, stored):
    bucket_url = f"{s3_server.endpoint}/{s3_server.bucket}"
    assert _unsigned("GET", f"{bucket_url}/{stored}") == 403
    assert _unsigned("GET", f"{bucket_url}?list-type=2") == 403
    assert _unsigned("GET", s3_server.endpoint + "/") == 403
    assert _unsigned("PUT", f"{bucket_url}/{stored}", b"overwritten") == 403
    assert _unsigned("PUT", f"{bucket_url}/planted", b"planted") == 403
    assert _unsigned("DELETE", f"{bucket_url}/{stored}") == 403
    anonymous = s3_server.s3_client(None, None)
    assert _status(lambda: anonymous.get_object(Bucket=s3_server.bucket, Key=stored)) == 403
    body = s3_server.client.get_object(Bucket=s3_server.bucket, Key=stored)["Body"].read()
    assert body == b"ciphertext-only"
    assert (
        _status(lambda: s3_server.client.head_object(Bucket=s3_server.bucket, Key="planted")) == 404
    )
    # Moto, the server these tests used before, let all of this through.


@pytest.mark.parametrize("who", ["app", "admin"])
def test_s3_refuses_a_wrong_secret(s3_server, stored, who):
    key = getattr(s3_server, who)[0]
    wrong = s3_server.s3_client(key, "not-" + getattr(s3_server, who)[1])
    assert _status(lambda: wrong.get_object(Bucket=s3_server.bucket, Key=stored)) == 403
    assert _status(lambda: wrong.put_object(Bucket=s3_server.bucket, Key=stored, Body=b"x")) == 403
    assert _status(lambda: wrong.delete_object(Bucket=s3_server.bucket, Key=stored)) == 403
    unknown = s3_server.s3_client("no-such-key", getattr(s3_server, who)[1])
    assert _status(lambda: unknown.list_objects_v2(Bucket=s3_server.bucket)) == 403
    body = s3_server.client.get_object(Bucket=s3_server.bucket, Key=stored)["Body"].read()
    assert body == b"ciphertext-only"


def test_the_apps_identity_may_use_its_bucket_and_nothing_else(s3_server, stored):
    """What web and worker sign with (compose's S3_ACCESS_KEY_ID) reads, writes and lists the
    app's bucket; it cannot make, delete or open up buckets, nor touch another one."""
    app = s3_server.s3_client(*s3_server.app)
    bucket = s3_server.bucket
    assert app.get_object(Bucket=bucket, Key=stored)["Body"].read() == b"ciphertext-only"
    assert stored in [
        o["Key"] for o in app.list_objects_v2(Bucket=bucket, Prefix="probe/")["Contents"]
    ]
    other = f"other-{uuid.uuid4().hex[:12]}"
    region = {"LocationConstraint": "eu-west-2"}
    assert _status(lambda: app.create_bucket(Bucket=other, CreateBucketConfiguration=region)) == 403
    assert _status(lambda: app.delete_bucket(Bucket=bucket)) == 403
    assert _status(lambda: app.put_bucket_acl(Bucket=bucket, ACL="public-read")) == 403
    policy = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
        f'"Action": "s3:GetObject", "Resource": "arn:aws:s3:::{bucket}/*"}}]}}'
    )
    assert _status(lambda: app.put_bucket_policy(Bucket=bucket, Policy=policy)) == 403
    s3_server.client.create_bucket(Bucket=other, CreateBucketConfiguration=region)
    try:
        s3_server.client.put_object(Bucket=other, Key="theirs", Body=b"theirs")
        assert _status(lambda: app.get_object(Bucket=other, Key="theirs")) == 403
        assert _status(lambda: app.list_objects_v2(Bucket=other)) == 403
        assert _status(lambda: app.put_object(Bucket=other, Key="mine", Body=b"x")) == 403
        assert _status(lambda: app.delete_object(Bucket=other, Key="theirs")) == 403
    finally:
        s3_server.client.delete_object(Bucket=other, Key="theirs")
        s3_server.client.delete_bucket(Bucket=other)
    s3_server.client.head_bucket(Bucket=bucket)  # still there
