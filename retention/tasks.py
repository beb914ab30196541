"""Retention's background work: the daily list of records due for erasure (and the admins'
e-mail), and deleting an erased patient's objects from storage."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from clinic.clinic_task import ClinicTask
from clinic.mail import send_clinic_mail
from clinic.models import Clinic
from clinic.selectors import admin_emails
from clinic.tenancy import clinic_context
from retention import services

logger = logging.getLogger("retention")


@shared_task(name="retention.tasks.list_due_for_erasure")
def list_due_for_erasure() -> int:
    """Beat, daily: list each clinic's records past retention; admins are told of new ones.
    Nothing is erased here."""
    newly_due = 0
    for clinic in Clinic.objects.all():
        with clinic_context(clinic.pk):
            newly_due += services.due_notify(clinic=clinic)
    if newly_due:
        logger.info("%d record(s) newly due for erasure", newly_due)
    return newly_due


@shared_task(base=ClinicTask, name="retention.tasks.notify_admins_of_due")
def notify_admins_of_due(*, clinic_id: str, due: int, newly_due: int) -> str:
    """E-mail the clinic's admins how many records are due, with the link to review them."""
    clinic = Clinic.objects.get(pk=clinic_id)
    admins = admin_emails(clinic)
    if not admins:
        return "no admins"
    body = render_to_string(
        "retention/email/due.txt",
        {
            "clinic": clinic,
            "due": due,
            "newly_due": newly_due,
            "url": settings.SITE_URL + reverse("retention", kwargs={"clinic_slug": clinic.slug}),
        },
    )
    subject = f"{clinic.name}: {newly_due} record(s) now past the retention period"
    send_clinic_mail(clinic=clinic, subject=subject, body=body, to=admins)
    return "sent"


@shared_task(base=ClinicTask, name="retention.tasks.delete_erased_objects")
def delete_erased_objects(*, clinic_id: str, erasure_id: str) -> str:
    """Delete an erased patient's (already unreadable) objects from storage; retried by the
    outbox while storage is unreachable."""
    return services.erasure_objects_delete(clinic_id=clinic_id, erasure_id=erasure_id)
