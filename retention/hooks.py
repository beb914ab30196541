"""What rooms above retention do when a patient is erased, registered from their ready(), so
retention never imports them. ``erased`` is called by ``retention.services.patient_erase``
inside the erasure's transaction, after its audit event; an error in one rolls the erasure
back.

Registered today (tests/test_hubs.py holds this list to the code):
- ``backup tombstone``: ``backups.tombstones.tombstone_owed`` owes an outbox job that writes the
  erasure's tombstone (ids only) to the backup target, so a restore erases the patient again.
"""

from __future__ import annotations

from collections.abc import Callable

from clinic.hubs import Hub

ErasureHook = Callable[..., None]

ERASURE: Hub[ErasureHook] = Hub(
    "retention.erasure", "what rooms above retention do, in its transaction, on an erasure"
)


def on_erasure(name: str, hook: ErasureHook) -> None:
    """Call ``hook(clinic=, erasure=, context=)`` on every erasure."""
    ERASURE.register(name, hook)


def erased(**kwargs) -> None:
    """Run every registered hook (see the module's list), in order."""
    for hook in ERASURE.values():
        hook(**kwargs)
