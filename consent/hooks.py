"""What rooms above consent do when a patient withdraws a use, registered from their ready(),
so consent never imports them. ``withdrawn`` is called by ``consent.services.withdraw`` inside
the withdrawal's transaction, after its audit event; each hook audits its own changes, and an
error in one rolls the whole withdrawal back.

Registered today (tests/test_hubs.py holds this list to the code):
- ``comparison shares``: ``comparisons.services.shares_revoke_on_withdrawal`` revokes the
  patient's open comparison links when a use they depend on is withdrawn.
"""

from __future__ import annotations

from collections.abc import Callable

from clinic.hubs import Hub

WithdrawalHook = Callable[..., None]

WITHDRAWAL: Hub[WithdrawalHook] = Hub(
    "consent.withdrawal", "what rooms above consent do, in its transaction, on a withdrawal"
)


def on_withdrawal(name: str, hook: WithdrawalHook) -> None:
    """Call ``hook(clinic=, patient=, uses=, withdrawal=, context=)`` on every withdrawal."""
    WITHDRAWAL.register(name, hook)


def withdrawn(**kwargs) -> None:
    """Run every registered hook (see the module's list), in order."""
    for hook in WITHDRAWAL.values():
        hook(**kwargs)
