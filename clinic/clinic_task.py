"""ClinicTask: every task about one clinic's data runs inside its clinic's context, and is
sent through the outbox. The ground floor's, so that every room's tasks can use it; the
Celery app itself is the project shell's (``config.celery``)."""

from __future__ import annotations

import functools

from celery.contrib.django.task import DjangoTask


class ClinicTask(DjangoTask):
    """Base for tasks about one clinic's data. They take ``clinic_id`` (and other ids, never
    data) and run in ``clinic_context(clinic_id)``, so row-level security applies as in a
    request.

    ``delay_on_commit`` goes through the outbox (``clinic.outbox``): the job is recorded in the
    caller's transaction and sent after it commits, and a broker error is logged, never raised
    into the request. A delivery of such a job runs at most once to completion; the task's
    function may take ``job`` (the claimed row) to see earlier failures.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    # Outbox jobs are retried until done; the job row, not Celery, decides when to give up.
    max_retries = None
    takes_job = False
    # Messages carry ``job_id``, which __call__ consumes before the function sees it, so
    # Celery's check of the arguments against the function's signature must not refuse it.
    typing = False

    def delay_on_commit(self, *args, **kwargs):
        """Record the job in the current transaction and send it after commit (see above)."""
        from clinic import outbox

        if args:
            raise TypeError(f"{self.name} takes keyword arguments (ids) only")
        return outbox.enqueue(self, **kwargs)

    def __call__(self, *args, **kwargs):
        from clinic import outbox
        from clinic.tenancy import clinic_context

        clinic_id = kwargs.get("clinic_id")
        if clinic_id is None:
            raise TypeError(f"{self.name} must be called with clinic_id=...")
        job_id = kwargs.pop("job_id", None)
        if job_id is None:
            with clinic_context(clinic_id):
                return super().__call__(*args, **kwargs)
        call = functools.partial(super().__call__, *args)

        def body(job):
            return call(**kwargs, job=job) if self.takes_job else call(**kwargs)

        return outbox.run(self, job_id=job_id, clinic_id=clinic_id, body=body)
