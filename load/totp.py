"""The practitioner's authenticator app: RFC 6238 codes (SHA-1, 6 digits, 30 s steps)."""

from __future__ import annotations

import hashlib
import hmac
import struct


def totp(key_hex: str, at: float) -> str:
    """The code an authenticator with this key shows at time ``at`` (Unix seconds)."""
    counter = struct.pack(">Q", int(at // 30))
    digest = hmac.new(bytes.fromhex(key_hex), counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"
