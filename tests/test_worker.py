"""Celery tasks run in a real worker, inside their clinic's RLS context."""

import pytest

from audit.services import record
from audit.tasks import verify_clinic_chain
from tests import factories as f


def test_worker_runs_a_clinic_task_inside_the_clinics_context(celery_worker):
    clinic = f.make_clinic()
    for i in range(3):
        record(clinic=clinic, action="test.worker", details={"i": i})
    result = celery_worker.send(verify_clinic_chain, clinic_id=str(clinic.id)).get(timeout=60)
    # As the app role, without the clinic's context RLS would have shown 0 events.
    assert result == {
        "clinic_id": str(clinic.id),
        "ok": True,
        "checked": 3,
        "broken_event_id": "",
        "problems": [],
    }


def test_clinic_task_refuses_to_run_without_a_clinic(committed_db):
    with pytest.raises(TypeError, match="clinic_id"):
        verify_clinic_chain.apply(kwargs={}).get()
