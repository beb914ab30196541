"""The comparison's files are made by a real Celery worker through the outbox: the request
only records the job, the page's status answers 'rendering' until the worker is done, then
'ready'; a second delivery of the same job does nothing."""

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from clinic.models import Job, JobState
from clinic.tenancy import clinic_context
from comparisons.models import Comparison
from comparisons.tasks import render_comparison
from tests import factories as f
from tests.comparisons.images import jpeg, moved, textured_face
from tests.conftest import wait_until

pytestmark = pytest.mark.worker
SKIPPED = "skipped: already done or running"  # the outbox's log line for a duplicate


def test_a_real_worker_renders_the_comparison_and_the_page_sees_it_without_reload(
    committed_db, celery_worker
):
    clinic = f.make_clinic()
    nurse = f.make_member(clinic, "practitioner")
    patient = f.make_patient(clinic, nurse)
    episode = f.make_episode(clinic, patient, nurse)
    face = textured_face(600, 800)
    after, _ = moved(face, scale=1 / 1.1, degrees=4, shift=(10, 5))
    before = f.make_ready_photo(clinic, patient, episode, nurse, data=jpeg(face))
    later = f.make_ready_photo(clinic, patient, episode, nurse, data=jpeg(after), stage="after")
    client = f.verified_client(nurse)
    kwargs = {"clinic_slug": clinic.slug}
    client.post(
        reverse("comparison_new", kwargs={**kwargs, "patient_id": patient.pk}),
        {"before": str(before.pk), "after": str(later.pk)},
    )
    with clinic_context(clinic.id):
        comparison = Comparison.objects.get(patient=patient)
    celery_worker.stop()  # so the page is seen while the job waits
    client.post(
        reverse("comparison_render", kwargs={**kwargs, "comparison_id": comparison.pk}),
        {"transform": json.dumps(comparison.transform)},
    )
    status_url = reverse("comparison_status", kwargs={**kwargs, "comparison_id": comparison.pk})
    assert client.get(status_url).json()["status"] == "rendering"
    celery_worker.start()
    assert wait_until(lambda: client.get(status_url).json()["status"] == "ready", timeout=90)
    state = client.get(status_url).json()
    assert client.get(state["pdf_url"]).content.startswith(b"%PDF")
    # The same job delivered again (a redelivery after a lost ack) finds it done.
    with clinic_context(clinic.id):
        job = Job.objects.get(clinic=clinic, task=render_comparison.name)
    assert job.state == JobState.DONE
    celery_worker.send(
        render_comparison,
        clinic_id=str(clinic.id),
        comparison_id=str(comparison.pk),
        version=1,
        job_id=str(job.pk),
    )
    assert wait_until(lambda: celery_worker.log_count(SKIPPED) >= 1, timeout=60)
    with clinic_context(clinic.id):
        rendered = AuditEvent.objects.filter(action="comparison.rendered", clinic=clinic)
        assert rendered.count() == 1
