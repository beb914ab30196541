"""Two-factor secrets at rest: TOTP keys encrypted, backup codes kept only as keyed hashes, so
the application's database role (or a leaked dump) never reads either in clear.

Both keys are derived from ``MASTER_KEY`` with HKDF-SHA256 under labels of their own, so they
are independent of the photo key hierarchy (which sits on a floor above this one and wraps
clinic keys, not sign-in secrets). Earlier master keys (``MASTER_KEYS_PREVIOUS``) still open
old ciphertext; re-sealing under the current key happens on the next use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

TOTP_KEY_LABEL = b"totp-secrets v1"
BACKUP_CODE_LABEL = b"backup-codes v1"
FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A sealed TOTP key that no configured master key opens (or that was tampered with)."""


@cache
def _derive(master_key_b64: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        base64.b64decode(master_key_b64)
    )


def _master_keys() -> list[str]:
    return [settings.MASTER_KEY, *settings.MASTER_KEYS_PREVIOUS]


def _associated_data(user_id) -> bytes:
    # Binds the ciphertext to its user: a key copied onto another user's row does not open.
    return TOTP_KEY_LABEL + b"|user:" + str(user_id).encode()


def seal_totp_key(raw_key: bytes, *, user_id) -> bytes:
    """The TOTP key encrypted (AES-256-GCM) for storage on ``user_id``'s device row."""
    nonce = os.urandom(NONCE_BYTES)
    key = _derive(settings.MASTER_KEY, TOTP_KEY_LABEL)
    return FORMAT_VERSION + nonce + AESGCM(key).encrypt(nonce, raw_key, _associated_data(user_id))


def open_totp_key(sealed: bytes, *, user_id) -> bytes:
    """The TOTP key from its sealed form; ``SecretUnreadable`` if no master key opens it."""
    sealed = bytes(sealed)
    if sealed[:1] != FORMAT_VERSION:
        raise SecretUnreadable("unknown sealed key format")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    for master in _master_keys():
        try:
            return AESGCM(_derive(master, TOTP_KEY_LABEL)).decrypt(
                nonce, ciphertext, _associated_data(user_id)
            )
        except InvalidTag:
            continue
    raise SecretUnreadable("no configured master key opens this TOTP key")


def sealed_under_current_key(sealed: bytes, *, user_id) -> bool:
    sealed = bytes(sealed)
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        AESGCM(_derive(settings.MASTER_KEY, TOTP_KEY_LABEL)).decrypt(
            nonce, ciphertext, _associated_data(user_id)
        )
    except InvalidTag:
        return False
    return True


def backup_code_hashes(code: str, *, user_id) -> list[str]:
    """The keyed hashes (HMAC-SHA256) ``code`` may be stored under: the current master key's
    first, then earlier ones'. An 8-digit code hashed without a key would fall to a brute force
    of 10^8 guesses; with the key, the database alone reveals nothing."""
    message = f"{user_id}:{code}".encode()
    return [
        hmac.new(_derive(master, BACKUP_CODE_LABEL), message, hashlib.sha256).hexdigest()
        for master in _master_keys()
    ]


def backup_code_hash(code: str, *, user_id) -> str:
    """The hash a new backup code is stored under."""
    return backup_code_hashes(code, user_id=user_id)[0]
