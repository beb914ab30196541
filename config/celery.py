"""The Celery app of the project: configured from Django's settings (``CELERY_*``), finding
every installed app's ``tasks`` module. The base class of clinic tasks is
``clinic.clinic_task.ClinicTask``.

What operators watch of the workers: a task that ends in an error is counted (clinic/watch.py,
read by /metrics), and the worker's log handlers, which Celery sets up itself, get the app's
token redaction, the task's id on every line and, under ``LOG_FORMAT=json``, the JSON lines."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One beat only: the beat takes a lock in Redis before it sends anything (config/beat.py).
from config import beat  # noqa: E402, F401

# The counter of tasks that ended in an error, by task (clinic/watch.py).
TASK_FAILURES = "celery.task_failures"


@task_failure.connect
def count_task_failure(sender=None, **kwargs) -> None:
    from clinic.watch import count

    count(TASK_FAILURES, getattr(sender, "name", "unknown"))


@after_setup_logger.connect
@after_setup_task_logger.connect
def log_like_the_app(logger=None, **kwargs) -> None:
    from django.conf import settings

    from config.logging import use_on_handlers

    use_on_handlers(logger.handlers, settings.LOG_FORMAT)
