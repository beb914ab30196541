"""Link tokens (invitations, consent, withdrawal): random, sent once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

TOKEN_BYTES = 32  # 256 bits


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash to store in its place."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def lifetime_text(lifetime: timedelta) -> str:
    """How long a link works, in words for the person who sends it ("7 days", "36 hours")."""
    hours = int(lifetime.total_seconds() // 3600)
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


def token_hash(token: str) -> str:
    """How a link token is stored: its SHA-256, so the database cannot replay it."""
    return hashlib.sha256(token.encode()).hexdigest()
