"""Checkpoints of the audit chains, kept outside the database.

A hash chain shows an edit, but not someone who can write the table and recomputes every
later hash, nor the newest events deleted (the shorter chain is still a chain). So once a day
each chain's head (seq, hash, number of events, time) is written as a small JSON object to
the object store, under ``checkpoints/<clinic id or "system">/``, signed with HMAC-SHA256 under
``AUDIT_CHECKPOINT_KEY``: a key from the environment, neither in the database nor the master
key. ``audit.verify`` compares each chain with its latest checkpoint.

The store is the blob storage's (``STORAGES["blobs"]``: the S3 bucket, or ``var/blobs`` in the
embedded default), reached through Django's storage API, not through the vault: checkpoints
are not encrypted (they hold no patient data), only signed. The orphan sweep deletes only
top-level objects named like blobs, so it never touches them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context

PREFIX = "checkpoints"
FORMAT = "clinicphotos-audit-checkpoint/1"
SYSTEM_CHAIN = "system"
STORE_ERRORS = (OSError, BotoCoreError, ClientError)


class CheckpointStoreUnavailable(Exception):
    """The object store holding the checkpoints could not be reached (or has no bucket)."""


class CheckpointRefused(Exception):
    """A new checkpoint was not written because the chain no longer matches the last one."""


@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    head_hash: str
    count: int
    created_at: datetime
    name: str = ""

    @property
    def label(self) -> str:
        return f"the checkpoint of {self.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class Latest:
    """The newest checkpoint whose signature holds, and the newer objects that failed it."""

    checkpoint: Checkpoint | None
    forged: tuple[str, ...] = ()


def chain_name(clinic_id: uuid.UUID | str | None) -> str:
    return str(clinic_id) if clinic_id else SYSTEM_CHAIN


def _store():
    return storages["blobs"]


def _key() -> bytes:
    return settings.AUDIT_CHECKPOINT_KEY.encode()


def key_id() -> str:
    """A short public name of the signing key, so a report can tell a rotated key from an
    altered object."""
    return hashlib.sha256(b"audit-checkpoint-key-id|" + _key()).hexdigest()[:12]


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _signature(body: dict) -> str:
    return hmac.new(_key(), _canonical(body), hashlib.sha256).hexdigest()


def store(checkpoint: Checkpoint) -> Checkpoint:
    """Sign and write one checkpoint object; returns it with its object name."""
    body = {
        "format": FORMAT,
        "chain": checkpoint.chain,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "count": checkpoint.count,
        "created_at": checkpoint.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": key_id(),
    }
    document = {**body, "hmac_sha256": _signature(body)}
    stamp = checkpoint.created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{PREFIX}/{checkpoint.chain}/{stamp}.json"
    try:
        saved = _store().save(name, ContentFile(json.dumps(document, indent=1).encode()))
    except STORE_ERRORS as error:
        raise CheckpointStoreUnavailable(f"could not write {name}: {error}") from error
    return Checkpoint(**{**checkpoint.__dict__, "name": saved})


def _parse(chain: str, name: str, raw: bytes) -> Checkpoint | None:
    """The checkpoint in ``raw``, or None when its signature (or anything else) is wrong."""
    try:
        document = json.loads(raw)
        signature = document.pop("hmac_sha256")
        if not hmac.compare_digest(signature, _signature(document)):
            return None
        if document["format"] != FORMAT or document["chain"] != chain:
            return None
        return Checkpoint(
            chain=chain,
            seq=int(document["seq"]),
            head_hash=str(document["head_hash"]),
            count=int(document["count"]),
            created_at=datetime.fromisoformat(document["created_at"]),
            name=name,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def latest(clinic_id: uuid.UUID | str | None) -> Latest:
    """The chain's newest checkpoint that verifies, and the names of any newer objects under
    its prefix that do not (altered, or signed with another key)."""
    chain = chain_name(clinic_id)
    folder = f"{PREFIX}/{chain}"
    store_ = _store()
    try:
        try:
            _, files = store_.listdir(folder)
        except FileNotFoundError:
            root = getattr(store_, "location", "")
            if root and not os.path.isdir(root):
                raise CheckpointStoreUnavailable(f"the folder {root} does not exist") from None
            return Latest(None)  # local disk, nothing written for this chain yet
        forged: list[str] = []
        for file in sorted((f for f in files if f.endswith(".json")), reverse=True):
            name = f"{folder}/{file}"
            with store_.open(name) as handle:
                found = _parse(chain, name, handle.read())
            if found is not None:
                return Latest(found, tuple(forged))
            forged.append(name)
        return Latest(None, tuple(forged))
    except STORE_ERRORS as error:
        raise CheckpointStoreUnavailable(
            f"the checkpoint store ({_describe(store_)}) cannot be read: {error}"
        ) from error


def _describe(store_) -> str:
    bucket = getattr(store_, "bucket_name", None)
    return f"S3 bucket {bucket!r}" if bucket else f"folder {getattr(store_, 'location', '?')}"


def compare(checkpoint: Checkpoint, *, head_seq: int, hash_at_seq: str | None, count: int) -> str:
    """What is wrong with a chain measured against ``checkpoint`` ("" when it matches).
    ``hash_at_seq`` is the hash the chain now has at the checkpoint's seq; ``count`` the number
    of its events up to that seq."""
    if head_seq < checkpoint.seq:
        missing = checkpoint.seq - head_seq
        return (
            f"the chain ends at #{head_seq}, but {checkpoint.label} vouched for #{checkpoint.seq}: "
            f"the newest {missing} event(s) it covered were deleted"
        )
    if hash_at_seq is None:
        return f"event #{checkpoint.seq}, which {checkpoint.label} vouched for, is missing"
    if hash_at_seq != checkpoint.head_hash:
        return (
            f"event #{checkpoint.seq} no longer has the hash {checkpoint.label} recorded: the "
            "chain up to it was rewritten (events altered and their hashes recomputed)"
        )
    if count != checkpoint.count:
        return (
            f"{checkpoint.count - count} event(s) up to #{checkpoint.seq} are missing since "
            f"{checkpoint.label}"
        )
    return ""


def _check_since(clinic_id, checkpoint: Checkpoint | None) -> tuple[str, int, str]:
    """Check what a new checkpoint would vouch for: the last one's anchor is unchanged and
    every event after it links and hashes. Returns (what is wrong or "", the last seq and hash
    checked), so the new checkpoint covers exactly the events checked."""
    start = checkpoint.seq if checkpoint else 0
    events = AuditEvent.objects.filter(clinic_id=clinic_id)
    if checkpoint:
        anchor = events.filter(seq=checkpoint.seq).values_list("hash", flat=True).first()
        count = events.filter(seq__lte=checkpoint.seq).count()
        head_seq = events.order_by("-seq").values_list("seq", flat=True).first() or 0
        problem = compare(checkpoint, head_seq=head_seq, hash_at_seq=anchor, count=count)
        if problem:
            return problem, 0, ""
    previous = checkpoint.head_hash if checkpoint else None
    expected = start + 1
    for event in events.filter(seq__gt=start).order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected:
            return f"event #{event.seq}: sequence jumps from {expected - 1} (events missing)", 0, ""
        if previous is not None and event.prev_hash != previous:
            return f"event #{event.seq}: its prev_hash does not match the event before it", 0, ""
        if event.compute_hash() != event.hash:
            return f"event #{event.seq}: its contents no longer match its hash", 0, ""
        previous, expected = event.hash, expected + 1
    return "", expected - 1, previous or ""


def write(clinic_id: uuid.UUID | str | None) -> Checkpoint | None:
    """Write the chain's checkpoint now, after checking that the chain still matches its last
    checkpoint and that every event since links and hashes (``CheckpointRefused`` naming what
    is wrong otherwise, so a rewritten chain never gets a fresh signature). A chain with nothing
    new since its last checkpoint gets no new object: that one is returned. None for a chain
    with no events yet."""
    previous = latest(clinic_id)
    if previous.forged:
        raise CheckpointRefused(
            f"checkpoint object {previous.forged[0]} fails its signature check; look into it "
            "(and move it aside) before new checkpoints are written"
        )
    with clinic_context(clinic_id):
        problem, seq, head_hash = _check_since(clinic_id, previous.checkpoint)
        if problem:
            raise CheckpointRefused(problem)
        # clinic_id None is the system chain; django-stubs#3472 refuses None for an _id lookup.
        count = AuditEvent.objects.filter(clinic_id=clinic_id, seq__lte=seq).count()  # type: ignore[misc]
    if seq == 0:
        return None
    if previous.checkpoint is not None and seq == previous.checkpoint.seq:
        # Nothing new since: the last checkpoint still covers the whole chain.
        return previous.checkpoint
    return store(
        Checkpoint(
            chain=chain_name(clinic_id),
            seq=seq,
            head_hash=head_hash,
            count=count,
            created_at=timezone.now(),
        )
    )
