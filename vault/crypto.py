"""Streaming authenticated encryption (AES-256-GCM in segments) and data-key wrapping.

Object format, in the manner of Tink's streaming AEAD and age's STREAM::

    header  = b"CPS1" || version (1 byte) || segment size (4 bytes BE) || nonce prefix (7 bytes)
    segment = AES-256-GCM(key, nonce, plaintext chunk, aad || header)   # chunk || 16-byte tag
    nonce   = nonce prefix || segment index (4 bytes BE) || last flag (1 byte: 1 final, else 0)

The index in the nonce catches reordering, the last flag catches truncation at a segment
boundary, and the header in the associated data binds the segment size and prefix. Every object
has at least one segment, so even empty plaintext is authenticated.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT_SIZE = 256 * 1024  # plaintext bytes per segment

MAGIC = b"CPS1"
VERSION = 1
KEY_SIZE = 32
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
WRAP_NONCE_SIZE = 12
_HEADER = struct.Struct(">4sBI7s")
HEADER_SIZE = _HEADER.size  # 16
# Bounds on a header's declared segment size, so a forged header cannot make us allocate much.
_MIN_SEGMENT_SIZE = 4 * 1024
_MAX_SEGMENT_SIZE = 4 * 1024 * 1024
_MAX_SEGMENTS = 2**32  # the index is 4 bytes; past this nonces would repeat


class DecryptionError(Exception):
    """The ciphertext was altered, truncated, reordered, or belongs to another key or record."""


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"AES-256 keys are {KEY_SIZE} bytes, got {len(key)}")


class _Segments:
    """Per-object state: the cipher, the header-bound associated data and the nonce layout."""

    def __init__(self, key: bytes, aad: bytes, header: bytes, prefix: bytes) -> None:
        _check_key(key)
        self.cipher = AESGCM(key)
        self.aad = bytes(aad) + header
        self.prefix = prefix

    def nonce(self, index: int, last: bool) -> bytes:
        if index >= _MAX_SEGMENTS:
            raise ValueError("object too large for this format")
        return self.prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _new_header(
    segment_size: int = SEGMENT_SIZE, nonce_prefix: bytes | None = None
) -> tuple[bytes, bytes]:
    # A fixed prefix is for known-answer tests only: reusing one under the same key would
    # repeat nonces. Every stored object gets a random one.
    prefix = os.urandom(NONCE_PREFIX_SIZE) if nonce_prefix is None else nonce_prefix
    if len(prefix) != NONCE_PREFIX_SIZE:
        raise ValueError(f"nonce prefixes are {NONCE_PREFIX_SIZE} bytes")
    return _HEADER.pack(MAGIC, VERSION, segment_size, prefix), prefix


def _parse_header(header: bytes) -> tuple[int, bytes]:
    if len(header) != HEADER_SIZE:
        raise DecryptionError("ciphertext is shorter than its header")
    magic, version, segment_size, prefix = _HEADER.unpack(header)
    if magic != MAGIC or version != VERSION:
        raise DecryptionError("not an encrypted object of a known format")
    if not _MIN_SEGMENT_SIZE <= segment_size <= _MAX_SEGMENT_SIZE:
        raise DecryptionError("ciphertext header declares an impossible segment size")
    return segment_size, prefix


def _read_full(src: BinaryIO, buf: memoryview) -> int:
    """Fill buf from src, looping over short reads; return how many bytes were read."""
    readinto = getattr(src, "readinto", None)
    filled = 0
    while filled < len(buf):
        if readinto is not None:
            n = readinto(buf[filled:])
        else:
            chunk = src.read(len(buf) - filled)
            n = len(chunk)
            buf[filled : filled + n] = chunk
        if not n:
            break
        filled += n
    return filled


def _chunks(src: BinaryIO, size: int) -> Iterator[tuple[memoryview, bool]]:
    """Yield (chunk, is_last) over src in size-byte chunks, always at least one (maybe empty).

    Reads one chunk ahead to know which is last; the two buffers are reused, so each chunk is
    only valid until the next one is requested.
    """
    current, ahead = memoryview(bytearray(size)), memoryview(bytearray(size))
    n = _read_full(src, current)
    while True:
        m = _read_full(src, ahead) if n == size else 0
        yield current[:n], m == 0
        if m == 0:
            return
        current, ahead, n = ahead, current, m


def encrypt_iter(
    key: bytes, aad: bytes, src: BinaryIO, *, nonce_prefix: bytes | None = None
) -> Iterator[bytes]:
    """Yield the ciphertext of src piece by piece (header, then each sealed segment), reading
    one segment ahead: memory stays flat however large the object."""
    header, prefix = _new_header(nonce_prefix=nonce_prefix)
    seg = _Segments(key, aad, header, prefix)
    yield header
    for index, (chunk, last) in enumerate(_chunks(src, SEGMENT_SIZE)):
        yield seg.cipher.encrypt(seg.nonce(index, last), bytes(chunk), seg.aad)


def encrypt_stream(key: bytes, aad: bytes, src: BinaryIO, dst: BinaryIO) -> int:
    """Encrypt src into dst segment by segment with flat memory; return ciphertext bytes written."""
    header, prefix = _new_header()
    seg = _Segments(key, aad, header, prefix)
    dst.write(header)
    written = len(header)
    out = memoryview(bytearray(SEGMENT_SIZE + TAG_SIZE))
    for index, (chunk, last) in enumerate(_chunks(src, SEGMENT_SIZE)):
        sealed = out[: len(chunk) + TAG_SIZE]
        seg.cipher.encrypt_into(seg.nonce(index, last), chunk, seg.aad, sealed)
        dst.write(sealed)
        written += len(sealed)
    return written


def encrypted_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Return the ciphertext size of a plaintext of this many bytes."""
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def _output_buffer(size: int) -> io.BytesIO:
    """Return a BytesIO already holding size zero bytes, to be filled through getbuffer().

    Sealing into its buffer and then calling getvalue() hands the result over as bytes without
    the extra 40 MB copy that bytes(bytearray) would cost (fresh memory dominates AES-GCM here).
    """
    out = io.BytesIO()
    if size:
        out.seek(size - 1)
        out.write(b"\0")
    return out


def encrypt_bytes(
    key: bytes, aad: bytes, data: bytes, *, nonce_prefix: bytes | None = None
) -> bytes:
    """Encrypt an in-memory plaintext; same format as encrypt_stream."""
    header, prefix = _new_header(nonce_prefix=nonce_prefix)
    seg = _Segments(key, aad, header, prefix)
    src = memoryview(data)
    count = max(1, -(-len(src) // SEGMENT_SIZE))
    out = _output_buffer(encrypted_size(len(src)))
    with out.getbuffer() as view:
        view[:HEADER_SIZE] = header
        pos = HEADER_SIZE
        for index in range(count):
            chunk = src[index * SEGMENT_SIZE : (index + 1) * SEGMENT_SIZE]
            end = pos + len(chunk) + TAG_SIZE
            seg.cipher.encrypt_into(
                seg.nonce(index, index == count - 1), chunk, seg.aad, view[pos:end]
            )
            pos = end
    return out.getvalue()


def decrypt_stream(key: bytes, aad: bytes, src: BinaryIO) -> Iterator[bytes]:
    """Yield src's plaintext segment by segment, each verified before it is yielded."""
    header_buf = bytearray(HEADER_SIZE)
    header = bytes(header_buf[: _read_full(src, memoryview(header_buf))])
    segment_size, prefix = _parse_header(header)
    seg = _Segments(key, aad, header, prefix)
    for index, (sealed, last) in enumerate(_chunks(src, segment_size + TAG_SIZE)):
        if len(sealed) < TAG_SIZE:
            raise DecryptionError("ciphertext is truncated")
        try:
            plaintext = seg.cipher.decrypt(seg.nonce(index, last), sealed, seg.aad)
        except InvalidTag:
            raise DecryptionError(f"segment {index} failed authentication") from None
        yield plaintext


def decrypt_bytes(key: bytes, aad: bytes, data: bytes) -> bytes:
    """Decrypt an in-memory ciphertext made by encrypt_bytes or encrypt_stream."""
    header = bytes(data[:HEADER_SIZE])
    segment_size, prefix = _parse_header(header)
    seg = _Segments(key, aad, header, prefix)
    body = memoryview(data)[HEADER_SIZE:]
    sealed_size = segment_size + TAG_SIZE
    # A body that is an exact multiple of the sealed size ends in a full final segment.
    count = max(1, -(-len(body) // sealed_size))
    last_size = len(body) - (count - 1) * sealed_size
    if last_size < TAG_SIZE:
        raise DecryptionError("ciphertext is truncated")
    out = _output_buffer(len(body) - count * TAG_SIZE)
    with out.getbuffer() as view:
        pos = 0
        for index in range(count):
            sealed = body[index * sealed_size : (index + 1) * sealed_size]
            end = pos + len(sealed) - TAG_SIZE
            try:
                seg.cipher.decrypt_into(
                    seg.nonce(index, index == count - 1), sealed, seg.aad, view[pos:end]
                )
            except InvalidTag:
                raise DecryptionError(f"segment {index} failed authentication") from None
            pos = end
    return out.getvalue()


def wrap_key(kek: bytes, key: bytes, aad: bytes, *, nonce: bytes | None = None) -> bytes:
    """Wrap a data key under a key-encryption key: nonce || ciphertext || tag. (A fixed nonce
    is for known-answer tests only.)"""
    _check_key(kek)
    nonce = os.urandom(WRAP_NONCE_SIZE) if nonce is None else nonce
    if len(nonce) != WRAP_NONCE_SIZE:
        raise ValueError(f"wrap nonces are {WRAP_NONCE_SIZE} bytes")
    return nonce + AESGCM(kek).encrypt(nonce, key, aad)


def unwrap_key(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """Unwrap a data key wrapped by wrap_key; raise DecryptionError on any mismatch."""
    _check_key(kek)
    if len(wrapped) < WRAP_NONCE_SIZE + TAG_SIZE:
        raise DecryptionError("wrapped key is truncated")
    try:
        return AESGCM(kek).decrypt(wrapped[:WRAP_NONCE_SIZE], wrapped[WRAP_NONCE_SIZE:], aad)
    except InvalidTag:
        raise DecryptionError("wrapped key failed authentication") from None
