"""The Celery app of the project: configured from Django's settings (``CELERY_*``), finding
every installed app's ``tasks`` module. The base class of clinic tasks is
``clinic.clinic_task.ClinicTask``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("clinic")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
