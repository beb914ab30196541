"""Personal detail in the trail, sealed per patient so that erasure can destroy it.

A patient appears in an event by id only. Whatever personal detail the event needs (the
address a link was sent to, the name typed when signing, an export's recipient, the IP and
browser of a patient using a link) is JSON sealed with AES-256-GCM under that patient's own
key, bound to the event's id, and stored in ``AuditEvent.personal``; the event's hash covers
the ciphertext. Destroying the key (``forget_patient``) leaves every hash as it was, so the
chain still verifies, and the detail becomes unreadable for good.

Keys and sealing are in ``audit.sealing``.

Events written before this (hash format 1) hold some of these fields in clear, and the trail
refuses to change them. ``reseal_legacy`` appends ``audit.personal_resealed`` events carrying
sealed copies, so the application reads the old detail the same way and forgets it with the
key; the clear text in those old rows stays in the database (docs/security.md, "Personal data
in the trail"). ``legacy_clear_events`` counts what is left of a patient there.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import HASH_FORMAT_LEGACY, AuditEvent, PatientKey
from audit.sealing import PATIENT_LABEL, PersonalUnreadable, open_sealed, unwrap, wrap
from audit.services import record
from clinic.tenancy import clinic_context, current_clinic_id

ERASED: Final = "erased"
RESEALED = "audit.personal_resealed"
KEY_DESTROYED = "audit.patient_key_destroyed"

# What events of hash format 1 held in clear (see ``legacy_personal``).
LEGACY_DETAIL_KEYS = ("sent_to", "recipient")
LEGACY_SIGNER_PREFIX = "patient: "
RESEAL_BATCH = 500

Personal = dict[str, Any] | Literal["erased"]


# --- reading ---------------------------------------------------------------------------------


def legacy_personal(event: AuditEvent) -> dict[str, Any]:
    """The personal fields an event of hash format 1 holds in clear (empty for later ones)."""
    if event.hash_format != HASH_FORMAT_LEGACY or event.patient_id is None:
        return {}
    found = {k: event.details[k] for k in LEGACY_DETAIL_KEYS if event.details.get(k)}
    label = event.actor_label
    if label.startswith(LEGACY_SIGNER_PREFIX):
        found["signer_name"] = label.removeprefix(LEGACY_SIGNER_PREFIX)
    if label.startswith(PATIENT_LABEL):
        if event.ip:
            found["ip"] = event.ip
        if event.user_agent:
            found["user_agent"] = event.user_agent
    return found


def events_personal(events: Iterable[AuditEvent]) -> dict[uuid.UUID, Personal]:
    """The personal detail of each event that has some, by event id: a dict, or ``ERASED``
    once the patient's key is destroyed. One query for the page's patient keys, and one more
    for sealed copies when the page holds events written before sealing. Call it inside the
    events' clinic context."""
    events = list(events)
    sealed = [e for e in events if e.personal and e.patient_id]
    legacy = {e.id: fields for e in events if (fields := legacy_personal(e))}
    legacy_events = [e for e in events if e.id in legacy]
    patients = {e.patient_id for e in sealed + legacy_events}
    if not patients:
        return {}
    keys: dict[tuple, bytes | None] = {
        (k.clinic_id, k.patient_id): None if k.wrapped_key is None else unwrap(k)
        for k in PatientKey.objects.filter(patient_id__in=patients)
    }

    result: dict[uuid.UUID, Personal] = {}
    for event in sealed:
        key = keys.get((event.clinic_id, event.patient_id))
        # Sealed events are those with a personal part (filtered above).
        result[event.id] = (
            ERASED if key is None else open_sealed(key, event.personal, event.clinic_id, event.id)  # type: ignore[arg-type]
        )
    if legacy_events:
        copies = _resealed_copies(legacy_events, keys)
        for event in legacy_events:
            pair = (event.clinic_id, event.patient_id)
            if pair in keys and keys[pair] is None:
                result[event.id] = ERASED
            else:
                result[event.id] = copies.get(event.id) or legacy[event.id]
    return result


def _resealed_copies(events: list[AuditEvent], keys: dict) -> dict[uuid.UUID, dict]:
    patients = {(e.clinic_id, e.patient_id) for e in events}
    readable = {p for p in patients if keys.get(p) is not None}
    if not readable:
        return {}
    reseals = AuditEvent.objects.filter(
        action=RESEALED,
        clinic_id__in={c for c, _ in readable},
        patient_id__in={p for _, p in readable},
        personal__isnull=False,
    ).only("id", "clinic_id", "patient_id", "personal")
    copies: dict[uuid.UUID, dict] = {}
    for reseal in reseals:
        key = keys.get((reseal.clinic_id, reseal.patient_id))
        if key is None:
            continue
        # The query asked for events with a personal part.
        opened = open_sealed(key, reseal.personal, reseal.clinic_id, reseal.id)  # type: ignore[arg-type]
        for event_id, fields in opened.get("events", {}).items():
            copies[uuid.UUID(event_id)] = fields
    return copies


def event_personal(event: AuditEvent) -> Personal | None:
    """One event's personal detail: a dict, ``ERASED`` once the patient's key is destroyed,
    or None when the event holds none. For a page of events use ``events_personal``."""
    return events_personal([event]).get(event.id)


# --- erasure and rotation --------------------------------------------------------------------


def forget_patient(*, clinic_id: uuid.UUID | str, patient_id: uuid.UUID | str) -> None:
    """Destroy the patient's key, inside the caller's transaction: every sealed detail of
    theirs (in events and resealed copies) becomes unreadable, no hash changes, and later
    events keep no personal detail of theirs. Recorded as ``audit.patient_key_destroyed``."""
    clinic_id, patient_id = uuid.UUID(str(clinic_id)), uuid.UUID(str(patient_id))
    scope = transaction.atomic() if current_clinic_id() == clinic_id else clinic_context(clinic_id)
    with scope:
        found = (
            PatientKey.objects.select_for_update()
            .filter(clinic_id=clinic_id, patient_id=patient_id)
            .first()
        )
        if found is None:
            # A tombstone all the same, so that no later event makes the patient a new key.
            found = PatientKey(clinic_id=clinic_id, patient_id=patient_id)
        had_key = found.wrapped_key is not None
        found.wrapped_key = None
        found.destroyed_at = found.destroyed_at or timezone.now()
        found.save()
        record(
            clinic=clinic_id,
            action=KEY_DESTROYED,
            patient=patient_id,
            actor_label="erasure",
            details={"had_key": had_key},
        )


def patient_keys_rewrap(clinic_id: uuid.UUID | str) -> int:
    """Re-wrap the clinic's patient keys under the current master key (after a master key
    rotation, with the old one in ``MASTER_KEYS_PREVIOUS``); returns how many moved."""
    moved = 0
    current = [settings.MASTER_KEY]
    for found in PatientKey.objects.select_for_update().filter(
        clinic_id=clinic_id, wrapped_key__isnull=False
    ):
        try:
            unwrap(found, current)
            continue
        except PersonalUnreadable:
            key = unwrap(found)
        found.wrapped_key = wrap(found.clinic_id, found.patient_id, key)
        found.save(update_fields=["wrapped_key"])
        moved += 1
    return moved


# --- events written before sealing ------------------------------------------------------------


def _legacy_candidates(clinic_id):
    holds = Q(actor_label__startswith=PATIENT_LABEL)
    for key in LEGACY_DETAIL_KEYS:
        holds |= Q(details__has_key=key)
    return AuditEvent.objects.filter(
        holds, clinic_id=clinic_id, hash_format=HASH_FORMAT_LEGACY, patient_id__isnull=False
    )


def legacy_clear_events(*, clinic_id: uuid.UUID | str, patient_id: uuid.UUID | str) -> int:
    """How many events written before sealing still hold personal fields of this patient in
    clear. The trail cannot change them; an erasure says so (docs/security.md)."""
    clinic_id = uuid.UUID(str(clinic_id))
    scope = transaction.atomic() if current_clinic_id() == clinic_id else clinic_context(clinic_id)
    with scope:
        candidates = _legacy_candidates(clinic_id).filter(patient_id=patient_id)
        return sum(1 for e in candidates.iterator() if legacy_personal(e))


def reseal_legacy(*, clinic_id: uuid.UUID | str) -> int:
    """Append, per patient, ``audit.personal_resealed`` events carrying sealed copies of the
    personal fields that older events hold in clear (at most RESEAL_BATCH events each), for
    every such event not resealed yet. Old events are never touched. Returns the number of
    events given a sealed copy."""
    clinic_id = uuid.UUID(str(clinic_id))
    resealed = 0
    with clinic_context(clinic_id):
        done: set[str] = set()
        for details in AuditEvent.objects.filter(clinic_id=clinic_id, action=RESEALED).values_list(
            "details", flat=True
        ):
            done.update(details.get("events", []))
        pending: dict[uuid.UUID, list[AuditEvent]] = defaultdict(list)
        for event in _legacy_candidates(clinic_id).order_by("seq").iterator(chunk_size=2000):
            if str(event.id) not in done and legacy_personal(event):
                pending[event.patient_id].append(event)
        for patient_id, events in pending.items():
            for start in range(0, len(events), RESEAL_BATCH):
                batch = events[start : start + RESEAL_BATCH]
                record(
                    clinic=clinic_id,
                    action=RESEALED,
                    patient=patient_id,
                    actor_label="audit_reseal",
                    details={
                        "events": [str(e.id) for e in batch],
                        "seqs": [e.seq for e in batch],
                    },
                    personal={"events": {str(e.id): legacy_personal(e) for e in batch}},
                )
                resealed += len(batch)
    return resealed
