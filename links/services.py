"""What every link a patient opens without an account shares (a consent request, a shared
comparison): whether it can still be used, and the date of birth that must match the record
before anything is shown, five wrong answers locking the link. One place for each rule, so the
kinds cannot drift apart."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from links.models import PatientLink

MAX_DOB_ATTEMPTS = 5
Link = TypeVar("Link", bound=PatientLink)


class LinkUnusable(Exception):
    """A patient link that cannot be used; the message is for the patient."""

    def __init__(self, message: str, status: int = 410) -> None:
        super().__init__(message)
        self.status = status


def check_usable(link: Link | None, *, kind: type[Link]) -> Link:
    """The link, or LinkUnusable saying why not: unknown, done, revoked, locked or expired."""
    if link is None:
        raise LinkUnusable(kind.not_found_message, 404)
    if used := link.used_message():
        raise LinkUnusable(used)
    if link.revoked_at:
        raise LinkUnusable(link.revoked_message)
    if link.locked_at:
        raise LinkUnusable(
            "This link is locked after too many attempts to confirm the date of birth. "
            "Please contact the clinic.",
            403,
        )
    if timezone.now() >= link.expires_at:
        raise LinkUnusable("This link has expired. Please ask the clinic to send a new one.")
    return link


def confirm_date_of_birth(
    *,
    link: PatientLink,
    date_of_birth: date,
    opened_action: str,
    failed_action: str,
    context: AuditContext | None = None,
) -> bool:
    """Check the patient's date of birth against the record behind ``link``, audited either
    way. LinkUnusable when the link cannot be used, and once the fifth wrong answer has
    locked it."""
    with transaction.atomic():
        locked = (
            type(link)
            .objects.select_for_update()
            .select_related("patient")
            .get(clinic_id=link.clinic_id, pk=link.pk)
        )
        check_usable(locked, kind=type(link))
        if locked.patient.date_of_birth == date_of_birth:
            if locked.opened_at is None:
                locked.opened_at = timezone.now()
                locked.save(update_fields=["opened_at"])
            record(
                clinic=locked.clinic_id,
                action=opened_action,
                context=context,
                target=locked,
                patient=locked.patient_id,
                by_patient=True,
            )
            return True
        locked.failed_checks += 1
        fields = ["failed_checks"]
        if locked.failed_checks >= MAX_DOB_ATTEMPTS:
            locked.locked_at = timezone.now()
            fields.append("locked_at")
        locked.save(update_fields=fields)
        record(
            clinic=locked.clinic_id,
            action=failed_action,
            context=context,
            target=locked,
            patient=locked.patient_id,
            by_patient=True,
            details={"attempts": locked.failed_checks, "locked": bool(locked.locked_at)},
        )
    if locked.locked_at:
        check_usable(locked, kind=type(link))
    return False
