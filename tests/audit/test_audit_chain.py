"""The audit trail: append-only in the database, hash-chained per clinic, verifiable."""

import subprocess
import sys
import threading

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import GENESIS_HASH, AuditEvent
from audit.services import record
from audit.verify import verify_chain
from clinic.tenancy import clinic_context
from demo import seed as demo
from tests import factories as f
from tests.conftest import ROOT, superuser_test_db_dsn


@pytest.mark.django_db
@pytest.mark.embedded
def test_events_chain_per_clinic(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    f.make_episode(cast.clinic_a, patient, cast.practitioner)
    f.make_patient(cast.clinic_b, cast.stranger)
    with clinic_context(cast.clinic_a.id):
        chain = list(AuditEvent.objects.filter(clinic=cast.clinic_a).order_by("seq"))
    assert [e.seq for e in chain] == [1, 2]
    assert chain[0].prev_hash == GENESIS_HASH
    assert chain[1].prev_hash == chain[0].hash
    assert chain[1].patient_id == patient.pk
    assert verify_chain(cast.clinic_a.id).ok
    assert verify_chain(cast.clinic_b.id).checked == 1


@pytest.mark.django_db
@pytest.mark.embedded
def test_event_is_written_in_the_same_transaction_as_the_change(cast):
    with pytest.raises(RuntimeError), clinic_context(cast.clinic_a.id):
        f.make_patient(cast.clinic_a, cast.admin)
        raise RuntimeError("the change fails after its audit row was written")
    with clinic_context(cast.clinic_a.id):
        assert not AuditEvent.objects.filter(clinic=cast.clinic_a).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_app_role_cannot_change_or_remove_events(cast, statement):
    f.make_patient(cast.clinic_a, cast.admin)
    with clinic_context(cast.clinic_a.id):
        with pytest.raises(DatabaseError, match="permission denied"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_no_update_delete",
        "DROP TRIGGER audit_no_truncate ON audit_auditevent",
        "SET session_replication_role = replica",
        "ALTER TABLE audit_auditevent NO FORCE ROW LEVEL SECURITY",
    ],
)
def test_app_role_cannot_switch_off_what_guards_the_trail(cast, statement):
    f.make_patient(cast.clinic_a, cast.admin)
    with clinic_context(cast.clinic_a.id):
        with pytest.raises(DatabaseError, match="permission denied|must be owner"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)


@pytest.mark.django_db
def test_app_role_has_only_select_and_insert_on_the_trail():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'audit_auditevent' AND grantee = current_user"
        )
        assert {row[0] for row in cursor.fetchall()} == {"SELECT", "INSERT"}


def _owner_dsn() -> str:
    settings = connection.settings_dict
    return f"host=127.0.0.1 port=5432 dbname={settings['NAME']} user=clinic_owner"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_even_the_table_owner_is_refused_by_the_triggers(committed_db, statement):
    clinic = f.make_clinic()
    record(clinic=clinic, action="test.owner", details={})
    with psycopg.connect(_owner_dsn(), autocommit=True) as owner:
        # RLS binds the owner too, so open the clinic's context to reach its rows.
        owner.execute("SELECT set_config('app.clinic_id', %s, false)", [str(clinic.id)])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute(statement)
    assert verify_chain(clinic.id).checked == 1


@pytest.mark.embedded
def test_concurrent_writers_keep_one_unbroken_chain(committed_db):
    clinic = f.make_clinic()
    errors = []

    def write(n):
        try:
            for i in range(10):
                record(clinic=clinic, action="test.concurrent", details={"writer": n, "i": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain(clinic.id)
    assert report.ok and report.checked == 40


def test_verify_audit_passes_on_seeded_data_and_names_the_event_an_owner_altered(committed_db):
    demo.seed(patients_per_clinic=4)
    call_command("verify_audit", "--clinic", "harbour")
    with clinic_context(_harbour_id()):
        victim = AuditEvent.objects.filter(action="patient.created").order_by("seq")[2]
    # As the database owner with triggers disabled for the session (what a malicious DBA
    # could do): alter one event.
    with psycopg.connect(
        superuser_test_db_dsn(),
        autocommit=True,
    ) as dba:
        dba.execute("SET session_replication_role = replica")
        dba.execute(
            "UPDATE audit_auditevent SET details = '{\"forged\": true}' WHERE id = %s", [victim.id]
        )
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "verify_audit", "--clinic", "harbour"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=_env(),
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"event #{victim.seq}" in result.stdout
        assert str(victim.id) in result.stdout
        assert "altered" in result.stdout
    finally:
        with psycopg.connect(
            superuser_test_db_dsn(),
            autocommit=True,
        ) as dba:
            dba.execute("SET session_replication_role = replica")
            dba.execute(
                "UPDATE audit_auditevent SET details = %s WHERE id = %s",
                [psycopg.types.json.Jsonb(victim.details), victim.id],
            )
    call_command("verify_audit", "--clinic", "harbour")


def test_deleted_event_is_named_as_a_gap(committed_db):
    clinic = f.make_clinic()
    events = [record(clinic=clinic, action="test.gap", details={"i": i}) for i in range(3)]
    with psycopg.connect(
        superuser_test_db_dsn(),
        autocommit=True,
    ) as dba:
        dba.execute("SET session_replication_role = replica")
        dba.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].id])
    report = verify_chain(clinic.id)
    assert not report.ok
    assert report.broken_event_id == events[2].id
    assert "missing" in report.reason


def _harbour_id():
    from clinic.models import Clinic

    return Clinic.objects.get(slug="harbour").id


def _env():
    import os

    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://clinic_app@127.0.0.1:5432/{connection.settings_dict['NAME']}"
    return env
