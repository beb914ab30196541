"""Writing the audit trail. Call ``record`` inside the transaction of the change it describes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.utils import timezone

from audit import sealing
from audit.context import AuditContext
from audit.models import GENESIS_HASH, HASH_FORMAT, AuditEvent
from clinic.tenancy import clinic_context, current_clinic_id

# What the trail records of an event made outside any request (a worker, a command).
NO_CONTEXT = AuditContext()


WRITE_LOCKING_SQLITE_MODES = {"IMMEDIATE", "EXCLUSIVE"}


def _lock_chain(clinic_id: uuid.UUID | None) -> None:
    """Hold the chain's head until this transaction ends, so the next event links to it."""
    if connection.vendor == "postgresql":
        # One writer per clinic chain at a time; other clinics are not held up.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))",
                [f"audit:{clinic_id or 'system'}"],
            )
    elif connection.vendor == "sqlite":
        # SQLite has one writer for the whole database. Its transactions (settings.py) begin
        # IMMEDIATE, holding that write lock from BEGIN, so the head read below cannot go
        # stale. A deferred transaction would read a head another writer may append to first.
        mode = getattr(connection, "transaction_mode", None)
        if mode not in WRITE_LOCKING_SQLITE_MODES:
            raise ImproperlyConfigured(
                "The audit trail on SQLite needs OPTIONS['transaction_mode'] = 'IMMEDIATE' "
                "(config/settings.py sets it for every SQLite database)."
            )


class PersonalInClear(TypeError):
    """A caller put a patient's personal detail where it would be stored in clear (a
    programming error, so not a ValueError that a view might turn into a message)."""


def _refuse_clear_personal(
    *, patient_id: uuid.UUID | None, details: dict[str, Any], actor_label: str
) -> None:
    """A patient's identity goes in events as ids and sealed detail, never in clear."""
    if actor_label.startswith(sealing.PATIENT_LABEL):
        raise PersonalInClear("a patient acting through a link is recorded with by_patient=True")
    if patient_id is not None:
        clear = sorted(
            k for k in sealing.PERSONAL_DETAIL_KEYS & set(details) if isinstance(details[k], str)
        )
        if clear:
            raise PersonalInClear(
                f"personal detail {clear} of a patient's event goes in personal=..., "
                "sealed under the patient's key"
            )


def record(
    *,
    clinic: Any | None,
    action: str,
    actor: Any | None = None,
    context: AuditContext | None = None,
    target: models.Model | None = None,
    patient: Any | None = None,
    details: dict[str, Any] | None = None,
    actor_label: str = "",
    personal: dict[str, Any] | None = None,
    by_patient: bool = False,
) -> AuditEvent:
    """Append one event to the clinic's chain (or the system chain when ``clinic`` is None).

    ``personal`` is the patient's personal detail the event needs (an address, a name); it is
    sealed under the patient's key (``audit.personal``) and never stored in clear.
    ``by_patient`` says the patient acted (through a link): the actor is "patient", and their
    IP and browser are sealed with the rest.
    """
    clinic_id = getattr(clinic, "pk", clinic)
    clinic_id = uuid.UUID(str(clinic_id)) if clinic_id is not None else None
    patient_id = uuid.UUID(str(getattr(patient, "pk", patient))) if patient else None
    details = details or {}
    _refuse_clear_personal(patient_id=patient_id, details=details, actor_label=actor_label)
    context = context or NO_CONTEXT
    if actor is None:
        actor = context.member
    ip, user_agent = context.ip, context.user_agent
    personal = dict(personal or {})
    if by_patient:
        actor, actor_label = None, sealing.PATIENT_LABEL
        personal.update({k: v for k, v in (("ip", ip), ("user_agent", user_agent)) if v})
        ip, user_agent = None, ""
    if personal and (patient_id is None or clinic_id is None):
        raise PersonalInClear("personal detail is sealed under a patient's key: pass patient=")
    # Events of another clinic than the open one (a login recorded in each of the user's
    # clinics) are written inside that clinic's own context, so RLS accepts them.
    scope = transaction.atomic() if clinic_id == current_clinic_id() else clinic_context(clinic_id)
    with scope:
        _lock_chain(clinic_id)
        last = (
            # None is the system chain; django-stubs#3472 refuses None for an _id lookup.
            AuditEvent.objects.filter(clinic_id=clinic_id)  # type: ignore[misc]
            .order_by("-seq")
            .values("seq", "hash")
            .first()
        )
        event = AuditEvent(
            clinic_id=clinic_id,
            seq=(last["seq"] + 1) if last else 1,
            created_at=timezone.now(),
            actor_id=getattr(actor, "pk", None),
            actor_label=actor_label or (getattr(actor, "email", "") if actor else ""),
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            patient_id=patient_id,
            ip=ip,
            user_agent=user_agent,
            request_id=context.request_id,
            details=details,
            hash_format=HASH_FORMAT,
            prev_hash=last["hash"] if last else GENESIS_HASH,
        )
        if personal:
            # Both ids are set: personal detail without them was refused above.
            event.personal = sealing.seal_for_event(
                clinic_id=clinic_id,  # type: ignore[arg-type]
                patient_id=patient_id,  # type: ignore[arg-type]
                event_id=event.id,
                personal=personal,
            )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
    return event


# --- the system chain under a flood of sign-in probes -----------------------------------------

# Sign-in events that belong to no clinic (an address nobody uses) are written to the system
# chain. Anyone can cause them, so within a window each client address and each e-mail
# address gets at most so many, and the whole chain at most so many; past a limit one event
# says so, and later attempts in the window are not recorded one by one.
PROBE_WINDOW = timedelta(minutes=15)
PROBE_LIMIT_PER_IP = 20
PROBE_LIMIT_PER_ADDRESS = 20
PROBE_LIMIT_ALL = 500
PROBES_SUPPRESSED = "auth.probes_suppressed"


def _probe_limit_reached(recent, *, ip: str | None, label: str) -> tuple[str, str, int] | None:
    if recent.count() >= PROBE_LIMIT_ALL:
        return "all", "", PROBE_LIMIT_ALL
    if ip and recent.filter(ip=ip).count() >= PROBE_LIMIT_PER_IP:
        return "ip", ip, PROBE_LIMIT_PER_IP
    if label and recent.filter(actor_label=label).count() >= PROBE_LIMIT_PER_ADDRESS:
        return "address", label, PROBE_LIMIT_PER_ADDRESS
    return None


def record_sign_in_probe(
    *,
    action: str,
    context: AuditContext | None,
    actor: Any | None = None,
    actor_label: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Record a sign-in event in the system chain, unless this client or address has already
    had its share of the window: then one ``auth.probes_suppressed`` event, then nothing."""
    ip = context.ip if context else None
    label = actor_label or (getattr(actor, "email", "") if actor else "")
    since = timezone.now() - PROBE_WINDOW
    with clinic_context(None):
        _lock_chain(None)
        recent = AuditEvent.objects.filter(
            clinic__isnull=True, created_at__gte=since, action__startswith="auth."
        ).exclude(action=PROBES_SUPPRESSED)
        limit = _probe_limit_reached(recent, ip=ip, label=label)
        if limit is None:
            return record(
                clinic=None,
                action=action,
                actor=actor,
                context=context,
                details=details,
                actor_label=label,
            )
        scope, key, count = limit
        already = AuditEvent.objects.filter(
            clinic__isnull=True,
            created_at__gte=since,
            action=PROBES_SUPPRESSED,
            details__scope=scope,
            details__key=key,
        ).exists()
        if already:
            return None
        return record(
            clinic=None,
            action=PROBES_SUPPRESSED,
            context=context,
            actor_label=label if scope == "address" else "",
            details={
                "scope": scope,
                "key": key,
                "limit": count,
                "window_minutes": int(PROBE_WINDOW.total_seconds() // 60),
                "first_suppressed": action,
            },
        )
