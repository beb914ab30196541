"""Work of the ground floor done after commit: the outbox sweep and its daily prune."""

from __future__ import annotations

from celery import shared_task

from clinic import outbox


@shared_task(name="clinic.tasks.sweep_outbox")
def sweep_outbox() -> int:
    """Every minute: send again the outbox jobs whose message was lost (broker outage,
    worker crash). Each delivery claims its job, so a duplicate does nothing."""
    return outbox.resend_due()


@shared_task(name="clinic.tasks.prune_outbox")
def prune_outbox() -> int:
    """Daily: delete outbox jobs done more than OUTBOX_KEEP_DONE_DAYS ago."""
    return outbox.prune_done()
