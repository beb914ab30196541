"""Revocation marks in the shared cache, for answers served from a process's memory.

A few answers are given without the database: a thumbnail the page already granted
(photos.thumbnails) is served from memory before sessions and memberships are looked up.
Anything that could have made such a grant wrong marks its scope here: a clinic (a photo
deleted, keys shredded, a membership changed) or a user (signed out, account changed). A grant
issued before its scope's latest mark is not honoured from memory; the request takes the
ordinary path, which checks everything against the database.

The marks live in Django's cache (Redis on the real stack, so every process sees them; the
embedded default's single process keeps them in its own memory). When the cache cannot be
reached, everything counts as revoked: the ordinary path is always right, only slower."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

# Longer than any grant honoured from memory lives.
MARK_SECONDS = 3600


def clinic_scope(clinic_id) -> str:
    return f"revoked:clinic:{clinic_id}"


def user_scope(user_id) -> str:
    return f"revoked:user:{user_id}"


def revoke(*scopes: str) -> None:
    """Mark ``scopes`` revoked as of now. Never raises: a mark that cannot be written is
    logged, and grants honoured from memory expire within minutes anyway."""
    now = time.time()
    try:
        cache.set_many({scope: now for scope in scopes}, timeout=MARK_SECONDS)
    except Exception:  # noqa: BLE001 - the cache being down must not fail the change
        logger.warning("revocation mark not written for %s", scopes, exc_info=True)


# When the cache's marks began: a cache restarted empty (Redis runs without persistence
# here) has forgotten its marks, so nothing issued before it started again is honoured.
BORN = "revoked:born"


def started() -> None:
    """Note when the cache began keeping marks, if it has not yet: called before a grant is
    issued, so grants issued after a restart are honoured again. Never raises."""
    try:
        cache.add(BORN, time.time(), timeout=None)
    except Exception:  # noqa: BLE001 - without the cache nothing is honoured from memory
        logger.warning("revocation marks' start not written", exc_info=True)


def revoked_since(issued_at: float, *scopes: str) -> bool:
    """Whether any of ``scopes`` was revoked at or after ``issued_at`` (True when the cache
    cannot say, or began keeping marks after ``issued_at``)."""
    try:
        marks = cache.get_many([BORN, *scopes])
        if BORN not in marks:
            cache.add(BORN, time.time(), timeout=None)
            return True
    except Exception:  # noqa: BLE001 - unknown counts as revoked
        return True
    return any(mark >= issued_at for mark in marks.values())


def _user_changed(sender, instance, **kwargs) -> None:
    revoke(user_scope(instance.pk))


def _membership_changed(sender, instance, **kwargs) -> None:
    revoke(clinic_scope(instance.clinic_id), user_scope(instance.user_id))


def _signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        revoke(user_scope(user.pk))


def connect() -> None:
    """Mark on the changes every grant depends on (called from ClinicConfig.ready)."""
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_delete, post_save

    from clinic.models import Membership, User

    post_save.connect(_user_changed, sender=User, dispatch_uid="revocation.user_saved")
    post_delete.connect(_user_changed, sender=User, dispatch_uid="revocation.user_deleted")
    for signal in (post_save, post_delete):
        signal.connect(
            _membership_changed, sender=Membership, dispatch_uid=f"revocation.member.{signal}"
        )
    user_logged_out.connect(_signed_out, dispatch_uid="revocation.signed_out")
