"""The daily outbox prune: done jobs past OUTBOX_KEEP_DONE_DAYS go, recent and pending ones
stay, other clinics' are pruned in their own context, and a late duplicate of a pruned job
does nothing."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django.utils import timezone

from clinic import outbox
from clinic.models import Job, JobState
from clinic.tenancy import clinic_context, service_write

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def job(clinic, *, state: str, done_days_ago: float | None) -> Job:
    with clinic_context(clinic.id):
        made = Job.objects.create(clinic=clinic, task="clinic.tasks.send_invitation", kwargs={})
        if state == JobState.DONE:
            with service_write("test: a job done some days ago"):
                Job.objects.filter(pk=made.pk).update(
                    state=JobState.DONE,
                    done_at=timezone.now() - timedelta(days=done_days_ago),
                )
    return made


def remaining(clinic) -> set:
    with clinic_context(clinic.id):
        return set(Job.objects.filter(clinic=clinic).values_list("pk", flat=True))


@override_settings(OUTBOX_KEEP_DONE_DAYS=30)
def test_done_jobs_past_the_keep_go_and_nothing_else(cast):
    old = job(cast.clinic_a, state=JobState.DONE, done_days_ago=31)
    assert old.pk in remaining(cast.clinic_a)
    recent = job(cast.clinic_a, state=JobState.DONE, done_days_ago=29)
    pending = job(cast.clinic_a, state=JobState.PENDING, done_days_ago=None)
    other_old = job(cast.clinic_b, state=JobState.DONE, done_days_ago=40)
    assert outbox.prune_done() == 2
    assert remaining(cast.clinic_a) == {recent.pk, pending.pk}
    assert other_old.pk not in remaining(cast.clinic_b)
    assert outbox.prune_done() == 0


def test_a_late_duplicate_of_a_pruned_job_does_nothing(cast):
    gone = job(cast.clinic_a, state=JobState.DONE, done_days_ago=60)
    outbox.prune_done(older_than=timedelta(days=1))
    ran = []
    task = SimpleNamespace(
        name="clinic.tasks.send_invitation", request=SimpleNamespace(is_eager=True)
    )
    result = outbox.run(task, job_id=gone.pk, clinic_id=cast.clinic_a.id, body=ran.append)
    assert result == "skipped" and ran == []
