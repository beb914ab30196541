"""Checking a clinic's audit chain link by link."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from audit.models import GENESIS_HASH, AuditEvent
from clinic.tenancy import clinic_context


@dataclass(frozen=True)
class ChainReport:
    clinic_id: uuid.UUID | None
    checked: int
    broken_event_id: uuid.UUID | None = None
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_event_id is None and not self.reason


def verify_chain(clinic_id: uuid.UUID | None) -> ChainReport:
    """Recompute every hash of one chain in order; report the first event that does not fit."""
    with clinic_context(clinic_id):
        events = (
            AuditEvent.objects.filter(clinic_id=clinic_id).order_by("seq").iterator(chunk_size=2000)
        )
        expected_prev = GENESIS_HASH
        expected_seq = 1
        checked = 0
        for event in events:
            reason = ""
            if event.seq != expected_seq:
                reason = f"sequence jumps from {expected_seq - 1} to {event.seq} (events missing)"
            elif event.prev_hash != expected_prev:
                reason = "its prev_hash does not match the hash of the event before it"
            elif event.compute_hash() != event.hash:
                reason = "its contents no longer match its hash (the event was altered)"
            if reason:
                return ChainReport(clinic_id, checked, event.id, event.seq, reason)
            checked += 1
            expected_prev = event.hash
            expected_seq += 1
    return ChainReport(clinic_id, checked)
