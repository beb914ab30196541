"""What every link a patient opens without an account shares (a consent request, a shared
comparison): the date of birth must match the record before anything is shown, and five wrong
answers lock the link. One place for the rule, so the two kinds cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record

MAX_DOB_ATTEMPTS = 5


def link_confirm_date_of_birth(
    *,
    link: models.Model,
    date_of_birth: date,
    check_usable: Callable[[Any], Any],
    opened_action: str,
    failed_action: str,
    request: HttpRequest | None = None,
) -> bool:
    """Check the patient's date of birth against the record behind ``link`` (a row with
    ``patient``, ``opened_at``, ``failed_checks`` and ``locked_at``), audited either way.
    ``check_usable`` raises the link kind's own "not usable" error, which is also raised once
    the fifth wrong answer has locked it."""
    with transaction.atomic():
        locked = (
            type(link)
            .objects.select_for_update()
            .select_related("patient")
            .get(clinic_id=link.clinic_id, pk=link.pk)
        )
        check_usable(locked)
        if locked.patient.date_of_birth == date_of_birth:
            if locked.opened_at is None:
                locked.opened_at = timezone.now()
                locked.save(update_fields=["opened_at"])
            record(
                clinic=locked.clinic_id,
                action=opened_action,
                request=request,
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
            request=request,
            target=locked,
            patient=locked.patient_id,
            by_patient=True,
            details={"attempts": locked.failed_checks, "locked": bool(locked.locked_at)},
        )
    if locked.locked_at:
        check_usable(locked)
    return False
