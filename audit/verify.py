"""Checking an audit chain link by link, and against its latest checkpoint."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from audit import checkpoints
from audit.models import GENESIS_HASH, AuditEvent
from clinic.tenancy import clinic_context


@dataclass(frozen=True)
class ChainReport:
    """One chain's verification. ``broken_*`` name the first event that does not fit its
    link; ``checkpoint_problems`` what the checkpoints show (a deleted tail, a rewritten
    chain, an object whose signature fails); ``store_error`` a checkpoint store that could
    not be read."""

    clinic_id: uuid.UUID | None
    checked: int
    broken_event_id: uuid.UUID | None = None
    broken_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    checkpoint: checkpoints.Checkpoint | None = None
    checkpoint_problems: tuple[str, ...] = field(default=())
    store_error: str = ""

    @property
    def tampered(self) -> bool:
        """The trail or its checkpoints show a change (not merely a store that was down)."""
        return self.broken_event_id is not None or bool(self.reason or self.checkpoint_problems)

    @property
    def ok(self) -> bool:
        return not self.tampered and not self.store_error

    def problems(self) -> list[str]:
        """Every problem in words, each naming the event (seq) it concerns."""
        found = []
        if self.broken_event_id is not None or self.reason:
            found.append(
                f"event #{self.broken_seq} (id {self.broken_event_id}): {self.reason}; "
                f"{self.checked} events before it verified"
            )
        found.extend(self.checkpoint_problems)
        if self.store_error:
            found.append(f"checkpoint not checked: {self.store_error}")
        return found


class UnknownClinic(LookupError):
    """No clinic has the slug a command was given."""


def chains(clinic_slug: str | None = None) -> list[tuple[str, uuid.UUID | None]]:
    """(label, clinic id) of the chains a command works on: the one clinic's when a slug is
    given, else every clinic's by slug and then the system chain (``None``)."""
    from clinic.models import Clinic

    if clinic_slug:
        found = Clinic.objects.filter(slug=clinic_slug).first()
        if found is None:
            raise UnknownClinic(f"No clinic with slug {clinic_slug!r}.")
        return [(found.slug, found.id)]
    return [(c.slug, c.id) for c in Clinic.objects.order_by("slug")] + [("(system)", None)]


def _link_problem(event: AuditEvent, expected_seq: int, expected_prev: str) -> str:
    if event.seq != expected_seq:
        return f"sequence jumps from {expected_seq - 1} to {event.seq} (events missing)"
    if event.prev_hash != expected_prev:
        return "its prev_hash does not match the hash of the event before it"
    if event.compute_hash() != event.hash:
        return "its contents no longer match its hash (the event was altered)"
    return ""


def verify_chain(clinic_id: uuid.UUID | str | None, *, with_checkpoint: bool = True) -> ChainReport:
    """Recompute every hash of one chain in order, naming the first event that does not fit;
    then hold the chain against its latest checkpoint (unless ``with_checkpoint`` is off)."""
    clinic_id = uuid.UUID(str(clinic_id)) if clinic_id else None
    latest, store_error = checkpoints.Latest(None), ""
    if with_checkpoint:
        try:
            latest = checkpoints.latest(clinic_id)
        except checkpoints.CheckpointStoreUnavailable as error:
            store_error = str(error)
    anchor = latest.checkpoint
    broken: tuple[uuid.UUID, int, str] | None = None
    checked = head_seq = count_to_anchor = 0
    hash_at_anchor = None
    with clinic_context(clinic_id):
        events = (
            # None is the system chain; django-stubs#3472 refuses None for an _id lookup.
            AuditEvent.objects.filter(clinic_id=clinic_id)  # type: ignore[misc]
            .order_by("seq")
            .iterator(chunk_size=2000)
        )
        expected_prev, expected_seq = GENESIS_HASH, 1
        for event in events:
            head_seq = event.seq
            if anchor is not None and event.seq <= anchor.seq:
                count_to_anchor += 1
                if event.seq == anchor.seq:
                    hash_at_anchor = event.hash
            if broken is None:
                reason = _link_problem(event, expected_seq, expected_prev)
                if reason:
                    broken = (event.id, event.seq, reason)
                else:
                    checked += 1
            expected_prev, expected_seq = event.hash, event.seq + 1
    problems = [
        f"checkpoint object {name} fails its signature check (altered, or signed with "
        "another AUDIT_CHECKPOINT_KEY)"
        for name in latest.forged
    ]
    if anchor is not None:
        problem = checkpoints.compare(
            anchor, head_seq=head_seq, hash_at_seq=hash_at_anchor, count=count_to_anchor
        )
        if problem:
            problems.append(problem)
    broken_id, broken_seq, reason = broken or (None, None, "")
    return ChainReport(
        clinic_id,
        checked,
        broken_event_id=broken_id,
        broken_seq=broken_seq,
        reason=reason,
        head_seq=head_seq,
        checkpoint=anchor,
        checkpoint_problems=tuple(problems),
        store_error=store_error,
    )
