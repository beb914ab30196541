"""The tests really run on the production stack, as the app role that RLS binds."""

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
