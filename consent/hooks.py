"""What apps above consent do when a patient withdraws (comparisons revoke their open shares),
registered from their ready(), so consent never imports them. Each hook runs inside the
withdrawal's transaction and audits its own changes."""

from __future__ import annotations

from collections.abc import Callable

WithdrawalHook = Callable[..., None]

_withdrawal_hooks: list[WithdrawalHook] = []


def on_withdrawal(hook: WithdrawalHook) -> None:
    """Call ``hook(clinic=, patient=, uses=, withdrawal=, request=)`` after every withdrawal."""
    if hook not in _withdrawal_hooks:
        _withdrawal_hooks.append(hook)


def withdrawn(**kwargs) -> None:
    for hook in _withdrawal_hooks:
        hook(**kwargs)
