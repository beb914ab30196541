"""A write that bypasses the services is refused: a bulk ``update()`` or ``delete()`` on tenant
data (say, ``Patient.objects.filter(...).update(...)`` typed into a shell) raises instead of
silently changing rows with no audit event. Services that make such a change audit it and say
so with ``service_write``."""

import pytest
from django.apps import apps
from django.db import connection

from audit.models import AuditEvent
from clinic.models import Clinic
from clinic.tenancy import TenantQuerySet, UnauditedWrite, clinic_context, service_write
from patients.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db

# Tenant tables guarded otherwise: the audit trail by database triggers that refuse UPDATE and
# DELETE to everyone; encrypted blobs and clinic keys move to the vault app, which guards them.
GUARDED_ELSEWHERE = {"audit.AuditEvent"}


def tenant_models() -> list[str]:
    return sorted(
        model._meta.label
        for model in apps.get_models()
        if any(
            fl.name == "clinic" and fl.related_model is Clinic for fl in model._meta.concrete_fields
        )
    )


@pytest.mark.parametrize("label", sorted(set(tenant_models()) - GUARDED_ELSEWHERE))
def test_every_tenant_model_refuses_bulk_writes_outside_services(label):
    model = apps.get_model(label)
    assert isinstance(model._default_manager.all(), TenantQuerySet), label
    with pytest.raises(UnauditedWrite):
        model.objects.all().update(clinic=None)
    with pytest.raises(UnauditedWrite):
        model.objects.all().delete()


def test_a_shell_update_of_a_patient_is_refused_and_changes_nothing(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Joanne")
    with clinic_context(cast.clinic_a.id):
        with pytest.raises(UnauditedWrite, match="without an audit event"):
            Patient.objects.filter(pk=patient.pk).update(first_name="Changed")
        with pytest.raises(UnauditedWrite):
            Patient.objects.filter(pk=patient.pk).delete()
        # Through a relation too.
        with pytest.raises(UnauditedWrite):
            patient.consent_requests.update(revoked_at=None)
        patient.refresh_from_db()
    assert patient.first_name == "Joanne"


def test_even_a_deliberate_bulk_write_without_the_clinic_context_changes_nothing(cast):
    """The second wall: with no clinic context, row-level security shows no rows to change."""
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Joanne")
    assert connection.vendor == "postgresql"
    with service_write("test: someone found the escape hatch"):
        assert Patient.objects.filter(pk=patient.pk).update(first_name="Changed") == 0
    with clinic_context(cast.clinic_a.id):
        patient.refresh_from_db()
    assert patient.first_name == "Joanne"


def test_a_service_that_bulk_updates_still_works_and_audits(cast):
    from consent import services as consent_services

    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    with clinic_context(cast.clinic_a.id):
        first = consent_services.request_send(clinic=cast.clinic_a, patient=patient, by=cast.admin)
        consent_services.request_send(clinic=cast.clinic_a, patient=patient, by=cast.admin)
        first.refresh_from_db()
        assert first.revoked_at is not None
        assert (
            AuditEvent.objects.filter(clinic=cast.clinic_a, action="consent.requested").count() == 2
        )


def test_the_service_write_permission_ends_with_its_block(cast):
    with service_write("test"):
        pass
    with pytest.raises(UnauditedWrite):
        Patient.objects.none().update(first_name="x")
