"""Reading the trail for the clinic's admins: the filtered log, a page at a time by keyset on
``seq`` (never OFFSET, so the millionth event costs what the first does), and a patient's
recent accesses.

The trail keeps ids. Patients live on a floor above this one, so their names come through
``register_patient_names`` (the patients app registers its look-ups when it starts); members'
names come from ``clinic`` below. Each page asks for the names of all its rows at once, so a
page is a fixed number of queries however many rows it has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from audit.models import AuditEvent
from clinic.hubs import Hub
from clinic.models import Clinic, User

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
RECENT_ACCESSES = 10

# --- names from the floors above -----------------------------------------------------------

PatientNames = Callable[[Clinic, set[uuid.UUID]], dict[uuid.UUID, str]]
PatientFinder = Callable[[Clinic, str, int], list[tuple[uuid.UUID, str]]]
PATIENT_NAMES: Hub[tuple[PatientNames, PatientFinder]] = Hub(
    "audit.patient_names", "patients' names for the audit log (one entry: the patients room's)"
)


def register_patient_names(names: PatientNames, finder: PatientFinder) -> None:
    """Called by the patients app when it starts: ``names(clinic, ids)`` gives the current
    name of each id (missing when there is none), ``finder(clinic, text, limit)`` the
    patients a typed name or date of birth matches."""
    PATIENT_NAMES.register("patients", (names, finder))


def patient_names(clinic: Clinic, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The current name of each patient id, in one query (empty when nothing is registered)."""
    registered = PATIENT_NAMES.values()
    if not ids or not registered:
        return {}
    return registered[0][0](clinic, ids)


def patients_matching(clinic: Clinic, text: str, limit: int = 10) -> list[tuple[uuid.UUID, str]]:
    """Patients a typed name matches, for the log's patient filter."""
    registered = PATIENT_NAMES.values()
    if not text.strip() or not registered:
        return []
    return registered[0][1](clinic, text, limit)


def staff_names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each member's name, in one query."""
    if not ids:
        return {}
    return {u.pk: str(u) for u in User.objects.filter(pk__in=ids).only("full_name", "email")}


# --- the filtered log ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    """What the admin asked for; empty means everything."""

    patient_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive

    @property
    def active(self) -> bool:
        return any((self.patient_id, self.actor_id, self.action, self.date_from, self.date_to))

    def as_details(self) -> dict[str, Any]:
        """The filter as an audit event's details (ids and dates only)."""
        return {
            key: str(value)
            for key, value in (
                ("patient", self.patient_id),
                ("actor", self.actor_id),
                ("action", self.action),
                ("from", self.date_from),
                ("to", self.date_to),
            )
            if value
        }


@dataclass
class LogRow:
    event: AuditEvent
    patient_name: str = ""
    actor_name: str = ""

    @property
    def who(self) -> str:
        """Who did it, as the log shows it: the member's current name, the patient on an
        e-mailed link, the label a system job gave, or the system."""
        if self.actor_name:
            return self.actor_name
        if self.event.actor_label == "patient":
            return "The patient (e-mailed link)"
        if self.event.actor_label:
            return self.event.actor_label
        return "No longer a member" if self.event.actor_id else "The system"


@dataclass
class LogPage:
    rows: list[LogRow]
    older: int | None = None  # the seq to continue from, going back in time
    newer: int | None = None  # the seq to continue from, going forward
    names: dict[uuid.UUID, str] = field(default_factory=dict)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered(clinic: Clinic, filters: LogFilter):
    qs = AuditEvent.objects.filter(clinic=clinic)
    if filters.patient_id:
        qs = qs.filter(patient_id=filters.patient_id)
    if filters.actor_id:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.date_from:
        qs = qs.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return qs


def _seq_bounds(clinic: Clinic, filters: LogFilter) -> tuple[int | None, int | None]:
    """A date range as a range of ``seq``: events are stamped under their chain's lock, so
    seq and time rise together, and every filter then reads one index range by seq. (The
    time filter stays on as well, so the edges are exact.)"""
    low = high = None
    events = AuditEvent.objects.filter(clinic=clinic)
    if filters.date_from:
        low = (
            events.filter(created_at__gte=_day_start(filters.date_from))
            .order_by("created_at")
            .values_list("seq", flat=True)
            .first()
        )
        if low is None:
            return 0, -1  # nothing on or after that day
    if filters.date_to:
        high = (
            events.filter(created_at__lt=_day_start(filters.date_to + timedelta(days=1)))
            .order_by("-created_at")
            .values_list("seq", flat=True)
            .first()
        )
        if high is None:
            return 0, -1
    return low, high


def _with_bounds(qs, low: int | None, high: int | None):
    if low is not None:
        qs = qs.filter(seq__gte=low)
    if high is not None:
        qs = qs.filter(seq__lte=high)
    return qs


def _named(clinic: Clinic, events: list[AuditEvent], also: set[uuid.UUID]) -> LogPage:
    patients = patient_names(clinic, {e.patient_id for e in events if e.patient_id} | also)
    actors = staff_names({e.actor_id for e in events if e.actor_id})
    rows = [
        LogRow(
            event=e,
            patient_name=patients.get(e.patient_id, "") if e.patient_id else "",
            actor_name=actors.get(e.actor_id, "") if e.actor_id else "",
        )
        for e in events
    ]
    return LogPage(rows=rows, names=patients)


def log_page(
    *,
    clinic: Clinic,
    filters: LogFilter,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the clinic's events, newest first: the newest page, or the page older
    than seq ``before``, or the page newer than seq ``after``. A fixed number of queries:
    the page (one more row than shown, to know whether there is another), patients' names,
    members' names, and two for a date range."""
    low, high = _seq_bounds(clinic, filters)
    qs = _with_bounds(_filtered(clinic, filters), low, high)
    if after is not None:
        events = list(qs.filter(seq__gt=after).order_by("seq")[: size + 1])
        more_newer = len(events) > size
        events = events[:size][::-1]
        more_older = True  # we came from there
    else:
        if before is not None:
            qs = qs.filter(seq__lt=before)
        events = list(qs.order_by("-seq")[: size + 1])
        more_older = len(events) > size
        events = events[:size]
        more_newer = before is not None
    page = _named(clinic, events, {filters.patient_id} if filters.patient_id else set())
    if events:
        page.older = events[-1].seq if more_older else None
        page.newer = events[0].seq if more_newer else None
    return page


def log_chunks(
    *, clinic: Clinic, filters: LogFilter, before: int | None = None
) -> Iterator[list[LogRow]]:
    """Every matching event (older than seq ``before``), newest first, in named chunks (for
    the CSV export). Each chunk is read by keyset after the last: memory stays at one chunk."""
    low, high = _seq_bounds(clinic, filters)
    qs = _with_bounds(_filtered(clinic, filters), low, high).order_by("-seq")
    while True:
        chunk = qs.filter(seq__lt=before) if before is not None else qs
        events = list(chunk[:EXPORT_CHUNK])
        if not events:
            return
        yield _named(clinic, events, set()).rows
        if len(events) < EXPORT_CHUNK:
            return
        before = events[-1].seq


def recent_accesses(*, clinic: Clinic, patient_id: uuid.UUID, limit: int = RECENT_ACCESSES):
    """The latest events about one patient, with who did them: the patient page's "who has
    accessed this record" panel."""
    events = list(
        AuditEvent.objects.filter(clinic=clinic, patient_id=patient_id).order_by("-seq")[:limit]
    )
    return _named(clinic, events, set()).rows
