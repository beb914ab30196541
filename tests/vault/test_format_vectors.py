"""Known-answer vectors freezing the vault's at-rest format (docs/security.md: "At-rest format").

Every stored object and wrapped key must stay readable across library upgrades: a change that
alters one byte of these outputs fails here, before it reaches a clinic's bucket."""

from __future__ import annotations

import hashlib
import io
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault import crypto

KEY = bytes(range(32))
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
AAD = b"blob:11111111-1111-4111-8111-111111111111:22222222-2222-4222-8222-222222222222:original"
PLAINTEXT = b"Before and after, exactly as taken."

SHORT = bytes.fromhex(
    "435053310100040000a0a1a2a3a4a5a6"  # "CPS1", version 1, 262144-byte segments, prefix
    "35042f71ca63c0a16d01f84ea9fade2a2b2b4e91a381087acaab613f6c2b9cd19c5453"  # segment 0
    "c230a18b926163f67c37abed48140ed4"  # its tag
)
EMPTY = bytes.fromhex("435053310100040000a0a1a2a3a4a5a638cf24ad807f1d8e63b1eb20b12e4f0e")
LONG_PLAINTEXT = bytes(i % 251 for i in range(crypto.SEGMENT_SIZE * 2 + 1000))
LONG_SIZE, LONG_SHA256 = 525352, "235ca03138c4495fac3be8e9f155817519885a353a5dbd66c5219ec6a558aba2"

KEK, DATA_KEY, WRAP_AAD = bytes(range(100, 132)), bytes(range(200, 232)), b"data-key:x:y"
WRAPPED = bytes.fromhex(
    "000000000000000000000000"  # nonce
    "94ae3159bc5861b2979b891b3529e69424fae8d9d1638645c983c968ae7ea847"  # the data key, sealed
    "f29a9cbbe2ef03acfd486def24e8784c"  # tag
)


def test_short_object_encrypts_to_the_frozen_bytes():
    assert crypto.encrypt_bytes(KEY, AAD, PLAINTEXT, nonce_prefix=PREFIX) == SHORT


def test_frozen_bytes_follow_the_documented_format():
    # Built from AES-GCM itself and the documented description (docs/security.md), not from our module.
    header = struct.pack(">4sBI7s", b"CPS1", 1, 256 * 1024, PREFIX)
    nonce = PREFIX + (0).to_bytes(4, "big") + b"\x01"  # segment 0, last
    assert header + AESGCM(KEY).encrypt(nonce, PLAINTEXT, AAD + header) == SHORT


def test_empty_object_is_one_authenticated_segment():
    assert crypto.encrypt_bytes(KEY, AAD, b"", nonce_prefix=PREFIX) == EMPTY
    assert crypto.decrypt_bytes(KEY, AAD, EMPTY) == b""


def test_multi_segment_object_encrypts_to_the_frozen_digest_in_memory_and_streamed():
    whole = crypto.encrypt_bytes(KEY, AAD, LONG_PLAINTEXT, nonce_prefix=PREFIX)
    streamed = b"".join(
        crypto.encrypt_iter(KEY, AAD, io.BytesIO(LONG_PLAINTEXT), nonce_prefix=PREFIX)
    )
    assert len(whole) == LONG_SIZE == crypto.encrypted_size(len(LONG_PLAINTEXT))
    assert hashlib.sha256(whole).hexdigest() == LONG_SHA256
    assert streamed == whole


def test_frozen_bytes_decrypt_in_memory_and_streamed():
    assert crypto.decrypt_bytes(KEY, AAD, SHORT) == PLAINTEXT
    assert b"".join(crypto.decrypt_stream(KEY, AAD, io.BytesIO(SHORT))) == PLAINTEXT
    long = crypto.encrypt_bytes(KEY, AAD, LONG_PLAINTEXT, nonce_prefix=PREFIX)
    assert b"".join(crypto.decrypt_stream(KEY, AAD, io.BytesIO(long))) == LONG_PLAINTEXT


@pytest.mark.parametrize("position", [0, 4, 5, 9, 15, 16, 40, len(SHORT) - 1])
def test_a_changed_byte_anywhere_in_the_vector_fails_to_decrypt(position):
    changed = bytearray(SHORT)
    changed[position] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(KEY, AAD, bytes(changed))


def test_other_associated_data_fails_to_decrypt():
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(KEY, AAD.replace(b"original", b"display"), SHORT)


def test_wrapped_key_format_is_frozen():
    assert crypto.wrap_key(KEK, DATA_KEY, WRAP_AAD, nonce=bytes(12)) == WRAPPED
    assert crypto.unwrap_key(KEK, WRAPPED, WRAP_AAD) == DATA_KEY
    changed = bytearray(WRAPPED)
    changed[20] ^= 0x80
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_key(KEK, bytes(changed), WRAP_AAD)


def test_stored_objects_never_reuse_a_nonce_prefix():
    first = crypto.encrypt_bytes(KEY, AAD, PLAINTEXT)
    second = crypto.encrypt_bytes(KEY, AAD, PLAINTEXT)
    assert first[9:16] != second[9:16]
