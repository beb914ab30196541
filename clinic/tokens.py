"""Link tokens (invitations, consent, withdrawal): random, sent once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash to store in its place."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """How a link token is stored: its SHA-256, so the database cannot replay it."""
    return hashlib.sha256(token.encode()).hexdigest()
