"""The outbox: work owed after a commit, kept in the database until it has been done once.

A service calls ``some_task.delay_on_commit(clinic_id=..., other_id=...)`` inside its
transaction. That writes a ``Job`` row with the change, and after the commit tries to hand the
job to the broker. A broker that is down is logged and forgotten: the person sees what was
saved, and the beat task ``clinic.tasks.sweep_outbox`` sends the job again later.

Exactly once: a delivery claims its job row (``SELECT ... FOR UPDATE SKIP LOCKED``) and marks it
done in the same transaction as its effect, so a duplicate finds it done, or busy, and skips.
E-mail is the one effect outside the database: a worker killed between the SMTP server's
acceptance and the commit sends it again on the next delivery.

This is the ground floor: it knows tasks only as the objects callers pass (or by the name
Celery registered them under), never an upper app.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from clinic import watch
from clinic.models import Clinic, Job, JobState
from clinic.tenancy import clinic_context, service_write

if TYPE_CHECKING:
    from celery import Task

logger = logging.getLogger("clinic.outbox")
# The outbox's own state, not patient data: the work each job does is audited by its task.
BOOKKEEPING = "outbox bookkeeping"

RETRY_MAX_SECONDS = 600
SWEEP_BATCH = 500
# The counter (clinic/watch.py) of failed runs, by task: /metrics shows it.
FAILURES = "outbox.failures"


class CountedFailure(Exception):
    """A failed run that counts towards the task giving up (``Job.failures``); anything else
    is retried without limit, because it is not the work's fault (storage, keys, SMTP)."""


def enqueue(task: Task, *, clinic_id, **kwargs: Any) -> Job:
    """Record ``task`` as owed by the current transaction and send it once that commits."""
    job = Job.objects.create(clinic_id=clinic_id, task=task.name, kwargs=kwargs)
    transaction.on_commit(lambda: send(task, job))
    return job


def message_kwargs(job: Job) -> dict[str, Any]:
    return {**job.kwargs, "clinic_id": str(job.clinic_id), "job_id": str(job.id)}


def send(task: Task, job: Job) -> bool:
    """Hand the job to the broker. Never raises: an outage is logged, the sweep resends."""
    try:
        # No publish retries: the request must not wait, the sweep is the retry.
        task.apply_async(kwargs=message_kwargs(job), retry=False)
    except Exception:  # noqa: BLE001 - any broker failure; the row keeps the work
        logger.error(
            "could not send job %s (%s) to the broker; the outbox sweep will resend it",
            job.id,
            job.task,
            exc_info=True,
        )
        return False
    return True


def resend_due(*, older_than: timedelta | None = None) -> int:
    """Send again every pending job untouched for ``older_than`` (the beat sweep)."""
    from celery import current_app as app

    grace = settings.OUTBOX_GRACE if older_than is None else older_than
    sent = 0
    for clinic_id in Clinic.objects.values_list("id", flat=True):
        with clinic_context(clinic_id):
            jobs = list(
                Job.objects.filter(
                    clinic_id=clinic_id,
                    state=JobState.PENDING,
                    due_at__lte=timezone.now() - grace,
                ).order_by("due_at")[:SWEEP_BATCH]
            )
            with service_write(BOOKKEEPING):
                Job.objects.filter(pk__in=[j.pk for j in jobs]).update(due_at=timezone.now())
        for job in jobs:
            task = app.tasks.get(job.task)
            if task is None:
                logger.error("job %s names an unknown task %r", job.id, job.task)
                continue
            sent += send(task, job)
    if sent:
        logger.info("outbox sweep sent %d job(s) again", sent)
    return sent


@dataclass(frozen=True)
class PendingSummary:
    """The outbox of every clinic at a glance: jobs owed, those whose last run failed, and
    when the oldest still owed was recorded (None when nothing is owed)."""

    pending: int
    failing: int
    oldest_created_at: datetime | None


def pending_summary() -> PendingSummary:
    """Pending jobs across clinics, for /metrics. Row-level security shows the app role one
    clinic at a time, so this is one aggregate query per clinic, in its context, as the
    sweep reads them (the index on clinic, state and due time answers each)."""
    pending = failing = 0
    oldest: datetime | None = None
    for clinic_id in Clinic.objects.values_list("id", flat=True):
        with clinic_context(clinic_id):
            row = Job.objects.filter(clinic_id=clinic_id, state=JobState.PENDING).aggregate(
                pending=Count("pk"),
                failing=Count("pk", filter=~Q(last_error="")),
                oldest=Min("created_at"),
            )
        pending += row["pending"]
        failing += row["failing"]
        if row["oldest"] is not None and (oldest is None or row["oldest"] < oldest):
            oldest = row["oldest"]
    return PendingSummary(pending=pending, failing=failing, oldest_created_at=oldest)


PRUNE_BATCH = 5000


def prune_done(*, older_than: timedelta | None = None) -> int:
    """Delete done jobs finished more than ``older_than`` ago (``OUTBOX_KEEP_DONE_DAYS`` by
    default), a batch at a time: every upload, signature and e-mail leaves one, and a chain's
    years of them would otherwise stay for ever. Pending jobs are never touched, and a
    duplicate message for a deleted job is skipped by ``run`` (nothing left to claim)."""
    keep = older_than if older_than is not None else timedelta(days=settings.OUTBOX_KEEP_DONE_DAYS)
    cutoff = timezone.now() - keep
    deleted = 0
    for clinic_id in Clinic.objects.values_list("id", flat=True):
        while True:
            with transaction.atomic(), clinic_context(clinic_id), service_write(BOOKKEEPING):
                ids = list(
                    Job.objects.filter(
                        clinic_id=clinic_id, state=JobState.DONE, done_at__lt=cutoff
                    ).values_list("pk", flat=True)[:PRUNE_BATCH]
                )
                if ids:
                    Job.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
            if len(ids) < PRUNE_BATCH:
                break
    if deleted:
        logger.info("outbox prune deleted %d done job(s)", deleted)
    return deleted


def _claim(job_id) -> Job | None:
    job = Job.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
    if job is None or job.state != JobState.PENDING:
        return None
    job.attempts += 1
    job.due_at = timezone.now()
    job.save(update_fields=["attempts", "due_at"])
    return job


def _backoff(attempts: int) -> int:
    first = settings.OUTBOX_RETRY_SECONDS
    seconds = min(first * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return int(seconds * random.uniform(0.8, 1.2))


def run(task: Task, *, job_id, clinic_id, body: Callable[[Job], Any]) -> Any:
    """Deliver one job: count the delivery, then do ``body(job)`` and mark the job done in one
    transaction. A failure is recorded and retried with backoff."""
    job_id = uuid.UUID(str(job_id))
    with clinic_context(clinic_id):
        job = _claim(job_id)
    if job is None:
        logger.info("job %s (%s) skipped: already done or running", job_id, task.name)
        return "skipped"
    try:
        with clinic_context(clinic_id):
            locked = (
                Job.objects.select_for_update(skip_locked=True)
                .filter(pk=job_id, state=JobState.PENDING)
                .first()
            )
            if locked is None:
                logger.info("job %s (%s) skipped: already done or running", job_id, task.name)
                return "skipped"
            result = body(locked)
            with service_write(BOOKKEEPING):
                Job.objects.filter(pk=job_id).update(
                    state=JobState.DONE, done_at=timezone.now(), last_error=""
                )
    except Exception as error:
        countdown = _backoff(job.attempts)
        counted = isinstance(error, CountedFailure)
        with clinic_context(clinic_id), service_write(BOOKKEEPING):
            Job.objects.filter(pk=job_id, state=JobState.PENDING).update(
                last_error=f"{type(error).__name__}: {error}"[:300],
                failures=F("failures") + int(counted),
                # The sweep leaves it to the retry below unless that is lost too.
                due_at=timezone.now() + timedelta(seconds=countdown),
            )
        watch.count(FAILURES, task.name)
        logger.error(
            "job %s (%s) failed on attempt %d, retrying in %d s: %s",
            job_id,
            task.name,
            job.attempts,
            countdown,
            error,
            exc_info=not counted,
        )
        if task.request.is_eager:
            # In-process tasks (the embedded default) must not loop inside a request.
            return "pending"
        raise task.retry(countdown=countdown, exc=error) from error
    return result
