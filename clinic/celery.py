"""The Celery app, and ClinicTask: every task runs inside its clinic's context."""

from __future__ import annotations

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class ClinicTask(Task):
    """Base for tasks about one clinic's data. They take ``clinic_id`` (and other ids, never
    data) and run in ``clinic_context(clinic_id)``, so row-level security applies as in a
    request."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, **kwargs):
        from clinic.tenancy import clinic_context

        clinic_id = kwargs.get("clinic_id")
        if clinic_id is None:
            raise TypeError(f"{self.name} must be called with clinic_id=...")
        with clinic_context(clinic_id):
            return super().__call__(*args, **kwargs)
