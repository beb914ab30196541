"""Row-level security holds even when application code forgets the clinic."""

import uuid

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from clinic.models import Clinic
from clinic.tenancy import clinic_context
from tests import factories as f

pytestmark = pytest.mark.django_db


def tenant_tables() -> list[str]:
    tables = []
    for model in apps.get_models():
        field = next((fl for fl in model._meta.concrete_fields if fl.name == "clinic"), None)
        if field is not None and field.related_model is Clinic:
            tables.append(model._meta.db_table)
    return sorted(tables)


def test_the_tenant_tables_are_the_ones_we_expect():
    # Guards the test below against silently finding nothing.
    assert {
        "patients_patient",
        "patients_treatmentepisode",
        "clinic_membership",
        "clinic_invitation",
        "audit_auditevent",
        "audit_patientkey",
    } <= set(tenant_tables())


@pytest.mark.parametrize("table", tenant_tables())
def test_every_tenant_table_has_forced_rls_and_a_policy(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s",
            [table],
        )
        enabled, forced = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_policies WHERE tablename = %s", [table])
        policies = cursor.fetchone()[0]
    assert enabled, f"{table}: row-level security is not enabled"
    assert forced, f"{table}: row-level security is not forced"
    assert policies >= 1, f"{table}: no policy"


def _set_context(clinic_id) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.clinic_id', %s, true), set_config('app.user_id', '', true)",
            [str(clinic_id or "")],
        )


def _count(table: str, clinic_id) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE clinic_id = %s", [str(clinic_id)])
        return cursor.fetchone()[0]


def test_raw_sql_as_app_role_sees_nothing_of_clinic_a_from_b_or_without_context(
    cast, django_capture_on_commit_callbacks
):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="rls@example.com")
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    with django_capture_on_commit_callbacks(execute=True):  # the e-mails make withdrawal links
        f.make_signed_consent(
            cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
        )
    from accounts.services import staff_invite
    from consent.services import consent_withdraw, marketing_add, withdrawal_undo

    with clinic_context(cast.clinic_a.id):
        marketing_add(clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner)
        # The patient withdraws by link and undoes it (a restoration row), then by phone.
        by_link = consent_withdraw(
            clinic=cast.clinic_a, patient=patient, uses=["website"], channel="link"
        )
        withdrawal_undo(clinic=cast.clinic_a, patient=patient, withdrawal_id=by_link.pk)
        from photos.services import sequence_set

        sequence_set(clinic=cast.clinic_a, treatment_type="toxin", views=["front"], by=cast.admin)
        consent_withdraw(
            clinic=cast.clinic_a,
            patient=patient,
            uses=["website"],
            channel="phone",
            by=cast.practitioner,
        )

    from tests.clinic.test_cross_clinic import _comparison_and_share

    _comparison_and_share(cast, patient, episode, photo)
    with clinic_context(cast.clinic_a.id):
        staff_invite(
            clinic=cast.clinic_a, email="new@example.com", role="reception", invited_by=cast.admin
        )
    from exports.services import export_build, export_create

    with clinic_context(cast.clinic_a.id):  # an export, and so the clinic's signing key
        export = export_create(
            clinic=cast.clinic_a,
            patient=patient,
            recipient="Insurer",
            reason="claim",
            by=cast.admin,
            queue=False,
        )
        export_build(clinic_id=cast.clinic_a.id, export_id=export.pk)
    from tests.clinic.test_cross_clinic import _hold_and_erasure

    _hold_and_erasure(cast, patient)  # a legal hold and a tombstone; then retention rules
    with clinic_context(cast.clinic_a.id):
        from retention.services import policy_update

        policy_update(clinic=cast.clinic_a, by=cast.admin, adult_years=10, minor_until_age=25)
    tables = tenant_tables()
    with transaction.atomic():
        _set_context(cast.clinic_a.id)
        seen_in_a = {t: _count(t, cast.clinic_a.id) for t in tables}
    assert all(seen_in_a.values()), f"fixture should give every table rows: {seen_in_a}"
    with transaction.atomic():
        _set_context(cast.clinic_b.id)
        assert {t: _count(t, cast.clinic_a.id) for t in tables} == dict.fromkeys(tables, 0)
    with transaction.atomic():
        _set_context(None)
        assert {t: _count(t, cast.clinic_a.id) for t in tables} == dict.fromkeys(tables, 0)


def test_cannot_insert_a_row_for_clinic_a_from_clinic_b_context(cast):
    with transaction.atomic():
        _set_context(cast.clinic_b.id)
        with pytest.raises(DatabaseError, match="row-level security"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO patients_patient (id, clinic_id, first_name, last_name, "
                    "date_of_birth, email, phone, notes, search_name, search_phone, created_at, "
                    "updated_at) VALUES (%s, %s, 'Eve', 'Intruder', '1990-01-01', '', '', '', "
                    "'eve intruder', '', now(), now())",
                    [str(uuid.uuid4()), str(cast.clinic_a.id)],
                )


def test_cannot_move_a_row_to_another_clinic(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    with transaction.atomic():
        _set_context(cast.clinic_a.id)
        with pytest.raises(DatabaseError, match="row-level security"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE patients_patient SET clinic_id = %s WHERE id = %s",
                    [str(cast.clinic_b.id), str(patient.pk)],
                )


def test_orm_without_context_sees_no_patients(cast):
    from patients.models import Patient

    f.make_patient(cast.clinic_a, cast.admin)
    with transaction.atomic():
        _set_context(None)
        assert Patient.objects.count() == 0
    with clinic_context(cast.clinic_a.id):
        assert Patient.objects.count() == 1
