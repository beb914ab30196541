"""Streaming AEAD: every way a stored photo can be altered, cut or moved must fail to decrypt."""

import io
import os

import pytest

from vault.crypto import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    DecryptionError,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    encrypted_size,
    new_data_key,
    unwrap_key,
    wrap_key,
)

KEY = new_data_key()
AAD = b"clinic:1/photo:42/original"
SEALED = SEGMENT_SIZE + TAG_SIZE
SIZES = [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 5_000_011]


def stream_encrypt(key: bytes, aad: bytes, data: bytes) -> bytes:
    out = io.BytesIO()
    written = encrypt_stream(key, aad, io.BytesIO(data), out)
    assert written == len(out.getvalue())
    return out.getvalue()


def stream_decrypt(key: bytes, aad: bytes, data: bytes) -> bytes:
    return b"".join(decrypt_stream(key, aad, io.BytesIO(data)))


def split(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    body = ciphertext[HEADER_SIZE:]
    return ciphertext[:HEADER_SIZE], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


def flip(data: bytes, index: int) -> bytes:
    tampered = bytearray(data)
    tampered[index] ^= 0x01
    return bytes(tampered)


def assert_both_refuse(ciphertext: bytes, key: bytes = KEY, aad: bytes = AAD) -> None:
    with pytest.raises(DecryptionError):
        decrypt_bytes(key, aad, ciphertext)
    with pytest.raises(DecryptionError):
        stream_decrypt(key, aad, ciphertext)


class ShortReads(io.RawIOBase):
    """A source that returns at most a few hundred bytes per read, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        chunk = self._data.read(min(len(buf), 777))
        buf[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture(scope="module")
def plaintext() -> bytes:
    return os.urandom(4 * SEGMENT_SIZE + 1000)


@pytest.fixture(scope="module")
def ciphertext(plaintext: bytes) -> bytes:
    return encrypt_bytes(KEY, AAD, plaintext)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_through_bytes_and_stream(size: int) -> None:
    data = os.urandom(size)
    by_bytes = encrypt_bytes(KEY, AAD, data)
    by_stream = stream_encrypt(KEY, AAD, data)
    assert len(by_bytes) == len(by_stream) == encrypted_size(size)
    for ciphertext in (by_bytes, by_stream):
        assert decrypt_bytes(KEY, AAD, ciphertext) == data
        assert stream_decrypt(KEY, AAD, ciphertext) == data


def test_empty_plaintext_still_has_an_authenticated_final_segment() -> None:
    ciphertext = encrypt_bytes(KEY, AAD, b"")
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE
    assert list(decrypt_stream(KEY, AAD, io.BytesIO(ciphertext))) == [b""]
    assert_both_refuse(ciphertext[:HEADER_SIZE])


def test_header_names_format_and_segment_size() -> None:
    ciphertext = encrypt_bytes(KEY, AAD, b"photo")
    assert ciphertext[:4] == b"CPS1"
    assert ciphertext[4] == 1
    assert int.from_bytes(ciphertext[5:9], "big") == SEGMENT_SIZE


def test_same_photo_encrypts_differently_each_time() -> None:
    assert encrypt_bytes(KEY, AAD, b"photo") != encrypt_bytes(KEY, AAD, b"photo")


def test_short_reads_from_a_socket_like_source_round_trip() -> None:
    data = os.urandom(2 * SEGMENT_SIZE + 5)
    out = io.BytesIO()
    encrypt_stream(KEY, AAD, ShortReads(data), out)
    assert b"".join(decrypt_stream(KEY, AAD, ShortReads(out.getvalue()))) == data


def test_ciphertext_does_not_contain_the_plaintext(plaintext: bytes, ciphertext: bytes) -> None:
    assert plaintext[:64] not in ciphertext
    assert plaintext[SEGMENT_SIZE : SEGMENT_SIZE + 64] not in ciphertext


@pytest.mark.parametrize(
    "index",
    [0, 4, 5, 8, 9, HEADER_SIZE - 1],
    ids=["magic", "version", "segment-size-high", "segment-size-low", "nonce-prefix", "prefix-end"],
)
def test_flipped_header_byte_is_refused(ciphertext: bytes, index: int) -> None:
    assert_both_refuse(flip(ciphertext, index))


def test_flipped_byte_in_a_middle_segment_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(flip(ciphertext, HEADER_SIZE + 2 * SEALED + 1234))


def test_flipped_tag_byte_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(flip(ciphertext, len(ciphertext) - 1))
    assert_both_refuse(flip(ciphertext, HEADER_SIZE + SEALED - 1))


def test_truncated_last_segment_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(ciphertext[:-1])
    assert_both_refuse(ciphertext[:-TAG_SIZE])
    assert_both_refuse(ciphertext[: HEADER_SIZE + 4 * SEALED + 3])


def test_truncated_inside_the_header_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(ciphertext[:HEADER_SIZE])
    assert_both_refuse(ciphertext[:7])
    assert_both_refuse(b"")


def test_dropped_final_segment_is_refused(ciphertext: bytes) -> None:
    header, segments = split(ciphertext)
    assert len(segments) == 5
    assert_both_refuse(header + b"".join(segments[:-1]))


def test_dropped_final_segment_of_an_exact_multiple_is_refused() -> None:
    header, segments = split(encrypt_bytes(KEY, AAD, os.urandom(3 * SEGMENT_SIZE)))
    assert [len(s) for s in segments] == [SEALED] * 3
    assert_both_refuse(header + b"".join(segments[:-1]))


def test_reordered_segments_are_refused(ciphertext: bytes) -> None:
    header, segments = split(ciphertext)
    segments[1], segments[2] = segments[2], segments[1]
    assert_both_refuse(header + b"".join(segments))


def test_appended_bytes_are_refused(ciphertext: bytes) -> None:
    assert_both_refuse(ciphertext + b"\x00")
    header, segments = split(ciphertext)
    assert_both_refuse(ciphertext + segments[-1])


def test_swapped_ciphertexts_of_two_photos_are_refused() -> None:
    key_a, aad_a = new_data_key(), b"clinic:1/photo:1/original"
    key_b, aad_b = new_data_key(), b"clinic:2/photo:2/original"
    photo_a = encrypt_bytes(key_a, aad_a, b"photo a" * 1000)
    photo_b = encrypt_bytes(key_b, aad_b, b"photo b" * 1000)
    assert_both_refuse(photo_b, key_a, aad_a)
    assert_both_refuse(photo_a, key_b, aad_b)


def test_segment_spliced_from_another_object_is_refused(ciphertext: bytes) -> None:
    header, segments = split(ciphertext)
    _, other = split(encrypt_bytes(KEY, AAD, os.urandom(len(ciphertext))))
    segments[1] = other[1]
    assert_both_refuse(header + b"".join(segments))


def test_wrong_aad_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(ciphertext, aad=b"clinic:2/photo:42/original")
    assert_both_refuse(ciphertext, aad=b"")


def test_wrong_key_is_refused(ciphertext: bytes) -> None:
    assert_both_refuse(ciphertext, key=new_data_key())


def test_tampered_last_segment_yields_nothing_of_it(plaintext: bytes, ciphertext: bytes) -> None:
    yielded = []
    with pytest.raises(DecryptionError):
        for chunk in decrypt_stream(KEY, AAD, io.BytesIO(flip(ciphertext, len(ciphertext) - 20))):
            yielded.append(chunk)
    assert b"".join(yielded) == plaintext[: 4 * SEGMENT_SIZE]


def test_tampered_middle_segment_stops_before_it(plaintext: bytes, ciphertext: bytes) -> None:
    yielded = []
    with pytest.raises(DecryptionError):
        for chunk in decrypt_stream(KEY, AAD, io.BytesIO(flip(ciphertext, HEADER_SIZE + SEALED))):
            yielded.append(chunk)
    assert yielded == [plaintext[:SEGMENT_SIZE]]


def test_keys_must_be_256_bits() -> None:
    with pytest.raises(ValueError):
        encrypt_bytes(os.urandom(16), AAD, b"photo")
    with pytest.raises(ValueError):
        wrap_key(os.urandom(16), KEY, AAD)


def test_new_data_keys_are_fresh_256_bit_keys() -> None:
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()


def test_wrap_and_unwrap_a_data_key() -> None:
    kek = new_data_key()
    wrapped = wrap_key(kek, KEY, b"clinic:1/key:3")
    assert len(wrapped) == 12 + 32 + 16
    assert KEY not in wrapped
    assert unwrap_key(kek, wrapped, b"clinic:1/key:3") == KEY
    assert wrap_key(kek, KEY, b"clinic:1/key:3") != wrapped


def test_unwrap_refuses_wrong_kek_aad_or_tampering() -> None:
    kek = new_data_key()
    wrapped = wrap_key(kek, KEY, b"clinic:1")
    for bad_kek, bad_wrapped, bad_aad in [
        (new_data_key(), wrapped, b"clinic:1"),
        (kek, wrapped, b"clinic:2"),
        (kek, flip(wrapped, 0), b"clinic:1"),
        (kek, flip(wrapped, len(wrapped) - 1), b"clinic:1"),
        (kek, wrapped[:-1], b"clinic:1"),
        (kek, wrapped[:20], b"clinic:1"),
    ]:
        with pytest.raises(DecryptionError):
            unwrap_key(bad_kek, bad_wrapped, bad_aad)
