"""clinic.revocation: marks for answers given from memory, and what happens when the cache is
gone (everything counts as revoked; writing a mark never fails the change)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from clinic import revocation

pytestmark = [pytest.mark.embedded]


def test_a_mark_revokes_what_was_issued_before_it_and_nothing_after():
    revocation.started()
    scope = revocation.user_scope("u-1")
    before = time.time() - 1
    revocation.revoke(scope)
    after = time.time() + 1
    assert revocation.revoked_since(before, scope)
    assert not revocation.revoked_since(after, scope)
    assert not revocation.revoked_since(before, revocation.user_scope("u-2"))


def test_an_unreachable_cache_revokes_everything_and_a_mark_never_raises(monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    for name in ("get_many", "set_many", "add"):
        monkeypatch.setattr(cache, name, down)
    revocation.revoke(revocation.clinic_scope("c-1"))  # logged, not raised
    revocation.started()
    assert revocation.revoked_since(time.time() + 60, revocation.clinic_scope("c-1"))
