"""Persistent database connections (DATABASE_CONN_MAX_AGE, on by default on PostgreSQL) carry
no clinic from one request to the next: the RLS setting is transaction-local."""

import pytest
from django.db import connection, transaction
from django.test import override_settings

from clinic import tenancy
from clinic.models import Role
from tests import factories as f


def _backend_and_setting() -> tuple[int, str | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_setting('app.clinic_id', true)")
        return cursor.fetchone()


def _patients_visible() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM patients_patient")
        return cursor.fetchone()[0]


def test_production_default_keeps_connections_on_postgresql():
    from django.conf import settings

    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 60
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.usefixtures("committed_db")
def test_a_reused_connection_carries_no_clinic_between_requests():
    clinic = f.make_clinic("Reuse A")
    user = f.make_member(clinic, Role.PRACTITIONER)
    patient = f.make_patient(clinic, user, last_name="Reused")
    client = f.verified_client(user)
    connection.settings_dict["CONN_MAX_AGE"] = 60
    try:
        with override_settings(DEBUG=False):
            page = client.get(f"/c/{clinic.slug}/patients/{patient.pk}/")
            assert page.status_code == 200 and b"Reused" in page.content
            backend, setting = _backend_and_setting()
            # The same PostgreSQL backend served the request (the connection was kept)...
            assert connection.connection is not None
            client.get(f"/c/{clinic.slug}/patients/{patient.pk}/")
            again, setting = _backend_and_setting()
        assert again == backend
        # ...and outside a request it has no clinic, so row-level security shows nothing.
        assert setting in ("", None)
        assert _patients_visible() == 0
        # Even a transaction that set the clinic and committed without resetting it (a path
        # that skipped clinic_context's exit) leaves nothing on the kept connection.
        with transaction.atomic():
            tenancy._apply(clinic.id, None)
            assert _patients_visible() == 1
        assert _backend_and_setting() == (backend, "")
        assert _patients_visible() == 0
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close()
