"""Reading consent: which uses a patient allows at a moment, and the history behind it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from clinic.models import Clinic
from clinic.tokens import token_hash
from consent.models import (
    ConsentRecord,
    ConsentRequest,
    ConsentRestoration,
    ConsentTemplate,
    ConsentUse,
    ConsentWithdrawal,
    MarketingItem,
    WithdrawalLink,
)
from patients.models import Patient

RECENT_WITHDRAWAL = timedelta(days=30)


def _timeline(clinic: Clinic, patient_ids) -> dict:
    """Signatures, withdrawals and undos of withdrawals per patient, in time order:
    (time, kind, uses)."""
    events = defaultdict(list)
    for record in ConsentRecord.objects.filter(clinic=clinic, patient_id__in=patient_ids).only(
        "patient_id", "signed_at", "uses_granted"
    ):
        events[record.patient_id].append((record.signed_at, "signed", set(record.uses_granted)))
    for withdrawal in ConsentWithdrawal.objects.filter(
        clinic=clinic, patient_id__in=patient_ids
    ).only("patient_id", "withdrawn_at", "uses"):
        events[withdrawal.patient_id].append(
            (withdrawal.withdrawn_at, "withdrawn", set(withdrawal.uses))
        )
    for restoration in ConsentRestoration.objects.filter(
        clinic=clinic, patient_id__in=patient_ids
    ).only("patient_id", "restored_at", "uses"):
        events[restoration.patient_id].append(
            (restoration.restored_at, "restored", set(restoration.uses))
        )
    order = {"signed": 0, "withdrawn": 1, "restored": 2}
    for items in events.values():
        items.sort(key=lambda e: (e[0], order[e[1]]))
    return events


def _apply(active: set[str], kind: str, uses: set[str]) -> set[str]:
    # A signature states the patient's whole choice; a withdrawal takes uses away from it; an
    # undo gives back what its withdrawal took.
    if kind == "signed":
        return set(uses)
    return active - uses if kind == "withdrawn" else active | uses


def _replay(events, at: datetime) -> set[str]:
    active: set[str] = set()
    for when, kind, uses in events:
        if when > at:
            break
        active = _apply(active, kind, uses)
    return active


def active_uses(*, clinic: Clinic, patient: Patient, at: datetime | None = None) -> set[str]:
    """The uses the patient consents to at ``at`` (now by default): the latest signature's
    grants, less what was withdrawn after it. Every use of a photo asks this."""
    events = _timeline(clinic, [patient.pk])[patient.pk]
    return _replay(events, at or timezone.now())


def active_uses_for(*, clinic: Clinic, patient_ids) -> dict:
    """``active_uses`` for many patients in two queries (for the marketing library)."""
    now = timezone.now()
    events = _timeline(clinic, list(patient_ids))
    return {pid: _replay(events.get(pid, []), now) for pid in patient_ids}


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime | None  # None: still valid


def consent_periods(*, clinic: Clinic, patient: Patient) -> dict[str, list[Period]]:
    """For each use, the periods in which it was valid (F16)."""
    return _periods(_timeline(clinic, [patient.pk])[patient.pk])


def consent_overview(
    *, clinic: Clinic, patient: Patient
) -> tuple[set[str], dict[str, list[Period]]]:
    """``active_uses`` now and ``consent_periods`` together, from one read of the timeline
    (the patient page shows both)."""
    events = _timeline(clinic, [patient.pk])[patient.pk]
    return _replay(events, timezone.now()), _periods(events)


def _periods(events) -> dict[str, list[Period]]:
    periods: dict[str, list[Period]] = {code: [] for code in ConsentUse.values}
    open_since: dict[str, datetime] = {}
    for when, kind, uses in events:
        before = set(open_since)
        after = _apply(before, kind, uses)
        for use in before - after:
            periods[use].append(Period(open_since.pop(use), when))
        for use in after - before:
            open_since[use] = when
    for use, start in open_since.items():
        periods[use].append(Period(start, None))
    return periods


def current_template(*, clinic: Clinic) -> ConsentTemplate | None:
    return ConsentTemplate.objects.filter(clinic=clinic).order_by("-version").first()


def templates_of(*, clinic: Clinic) -> QuerySet[ConsentTemplate]:
    return ConsentTemplate.objects.filter(clinic=clinic).order_by("-version")


def request_by_token(*, clinic: Clinic, token: str) -> ConsentRequest | None:
    return (
        ConsentRequest.objects.select_related("patient", "template", "clinic")
        .filter(clinic=clinic, token_hash=token_hash(token))
        .first()
    )


def request_get(*, clinic: Clinic, request_id) -> ConsentRequest | None:
    return (
        ConsentRequest.objects.select_related("patient", "template", "clinic")
        .filter(clinic=clinic, pk=request_id)
        .first()
    )


def withdrawal_link_by_token(*, clinic: Clinic, token: str) -> WithdrawalLink | None:
    return (
        WithdrawalLink.objects.select_related("patient")
        .filter(clinic=clinic, token_hash=token_hash(token))
        .first()
    )


def requests_of(*, clinic: Clinic, patient: Patient) -> QuerySet[ConsentRequest]:
    return ConsentRequest.objects.filter(clinic=clinic, patient=patient).select_related(
        "sent_by", "template"
    )


def records_of(*, clinic: Clinic, patient: Patient) -> QuerySet[ConsentRecord]:
    return ConsentRecord.objects.filter(clinic=clinic, patient=patient).select_related("template")


def record_get(*, clinic: Clinic, record_id) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.select_related("patient", "template", "request", "signature", "pdf")
        .filter(clinic=clinic, pk=record_id)
        .first()
    )


def withdrawals_of(*, clinic: Clinic, patient: Patient) -> QuerySet[ConsentWithdrawal]:
    return ConsentWithdrawal.objects.filter(clinic=clinic, patient=patient).select_related(
        "recorded_by"
    )


def withdrawal_get(*, clinic: Clinic, patient: Patient, withdrawal_id) -> ConsentWithdrawal | None:
    """One of the patient's withdrawals not undone yet, or None."""
    try:
        return ConsentWithdrawal.objects.filter(
            clinic=clinic, patient=patient, pk=withdrawal_id, undone_by__isnull=True
        ).first()
    except (ValueError, ValidationError):
        return None


def recent_withdrawals(*, clinic: Clinic, patient: Patient) -> list[ConsentWithdrawal]:
    """Withdrawals of the last 30 days that the patient did not undo, for the banner on the
    patient page."""
    since = timezone.now() - RECENT_WITHDRAWAL
    return list(
        withdrawals_of(clinic=clinic, patient=patient).filter(
            withdrawn_at__gte=since, undone_by__isnull=True
        )
    )


def latest_event_at(*, clinic: Clinic, patient: Patient) -> datetime | None:
    """When the patient's consent last changed (a signature, withdrawal or undo)."""
    events = _timeline(clinic, [patient.pk]).get(patient.pk)
    return events[-1][0] if events else None


def marketing_library(*, clinic: Clinic, use: str = "") -> list[MarketingItem]:
    """Library items whose photo is ready and whose patient consents to the item's use now.
    Consent is checked here as well as on withdrawal, so a missed removal never shows."""
    items = list(
        MarketingItem.objects.filter(
            clinic=clinic,
            removed_at__isnull=True,
            photo__deleted_at__isnull=True,
            photo__status="ready",
        )
        .filter(**({"use": use} if use else {}))
        .select_related("photo", "photo__patient", "photo__episode")
    )
    consents = active_uses_for(clinic=clinic, patient_ids={i.photo.patient_id for i in items})
    return [item for item in items if item.use in consents[item.photo.patient_id]]


def withdrawal_link_get(*, clinic: Clinic, link_id) -> WithdrawalLink | None:
    if not link_id:
        return None
    return (
        WithdrawalLink.objects.select_related("patient").filter(clinic=clinic, pk=link_id).first()
    )


def marketing_item_get(*, clinic: Clinic, item_id) -> MarketingItem | None:
    """A live (not removed) library item."""
    return (
        MarketingItem.objects.select_related("photo")
        .filter(clinic=clinic, pk=item_id, removed_at__isnull=True)
        .first()
    )
