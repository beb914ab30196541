"""What operators watch, noted where it happens and read by ``/metrics`` (config/metrics.py):
counters (failed runs of a task) and marks (when a chain was last checked, and whether it
passed).

They live in the shared cache, not in a process: a failure counted by a Celery worker in one
container is scraped from a web process in another. With ``REDIS_URL`` that cache is Redis, so
the numbers outlive a restart of either; without it every task runs in the web process (eager)
and the process's own cache is the right place. A cache that cannot be reached loses the note
and never fails the work that made it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)
PREFIX = "watch"


@dataclass(frozen=True)
class Mark:
    """The last time something concluded, and whether it passed."""

    at: float  # seconds since the epoch
    ok: bool


def _key(name: str, label: str) -> str:
    return f"{PREFIX}:{name}:{label}"


def count(name: str, label: str) -> None:
    """Add one to the counter ``name`` for ``label`` (a task's name, say)."""
    key = _key(name, label)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # noqa: BLE001 - the cache is down or the key was evicted meanwhile
        logger.warning("could not count %s for %s", name, label, exc_info=True)


def counts(name: str, labels: Iterable[str]) -> dict[str, int]:
    """The counter ``name`` of each label that has one (one round trip)."""
    labels = list(labels)
    found = cache.get_many([_key(name, label) for label in labels])
    return {label: int(found[_key(name, label)]) for label in labels if _key(name, label) in found}


def mark(name: str, label: str, *, ok: bool) -> None:
    """Note that ``name`` concluded for ``label`` just now, passing or not."""
    try:
        cache.set(_key(name, label), {"at": time.time(), "ok": ok}, timeout=None)
    except Exception:  # noqa: BLE001 - the cache is down: the next run notes it again
        logger.warning("could not note %s for %s", name, label, exc_info=True)


def marks(name: str, labels: Iterable[str]) -> dict[str, Mark]:
    """The last mark of each label that has one (one round trip)."""
    labels = list(labels)
    found = cache.get_many([_key(name, label) for label in labels])
    return {
        label: Mark(at=float(value["at"]), ok=bool(value["ok"]))
        for label in labels
        if isinstance(value := found.get(_key(name, label)), dict)
    }
