"""The streamed ZIP on its own (no database): it never holds a file whole, chooses ZIP64 for
large files, stores photos, and its SHA256SUMS and signature cover what they say."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exports.bundle import AlteredOriginal, BundleFile, ChunkReader, archive

SEGMENT = 256 * 1024


def _archive(files, key=None):
    key = key or Ed25519PrivateKey.generate()
    return archive(
        files,
        manifest_head={"format": "test"},
        verify_text=lambda stamped: b"check it\n",
        public_key_pem=b"PEM\n",
        sign=key.sign,
    )


def test_a_large_file_streams_through_in_pieces_no_bigger_than_a_segment():
    piece = b"\xab" * SEGMENT
    big = BundleFile(
        path="originals/big.jpg",
        kind="original photo",
        chunks=lambda: (piece for _ in range(200)),  # 50 MiB
        size=200 * SEGMENT,
    )
    largest, total, out = 0, 0, hashlib.sha256()
    for chunk in _archive([big]):
        largest = max(largest, len(chunk))
        total += len(chunk)
        out.update(chunk)
    assert total > 200 * SEGMENT
    assert largest <= SEGMENT + 1024, "the archive buffered more than one segment"


def test_the_reader_gives_exactly_what_is_asked():
    reader = ChunkReader([b"abc", b"", b"defgh", b"i"])
    assert reader.read(2) == b"ab"
    assert reader.read(4) == b"cdef"
    assert reader.read(-1) == b"ghi"
    assert reader.read(10) == b""


def test_a_file_declared_over_4_gib_gets_zip64_headers_and_the_zip_still_reads():
    declared = BundleFile(
        path="originals/huge.heic",
        kind="original photo",
        chunks=lambda: [b"x" * 1000],
        size=5 * 2**30,
    )
    data = b"".join(_archive([declared]))
    # The local header of the first entry carries the ZIP64 extra field (id 0x0001).
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    extra = data[30 + name_len : 30 + name_len + extra_len]
    assert struct.unpack("<H", extra[:2])[0] == 0x0001
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("originals/huge.heic") == b"x" * 1000
        assert zf.testzip() is None


def test_photos_are_stored_and_the_signed_sums_list_every_file_with_its_hash():
    photo = BundleFile.of_bytes(
        "originals/a.jpg", "original photo", b"\xff\xd8photo", ids={"photo_id": "p1"}
    )
    key = Ed25519PrivateKey.generate()
    data = b"".join(_archive([photo], key))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.getinfo("originals/a.jpg").compress_type == zipfile.ZIP_STORED
        manifest_bytes = zf.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        # The one signature is over SHA256SUMS, which lists every other file, manifest too.
        key.public_key().verify(zf.read("SHA256SUMS.sig"), zf.read("SHA256SUMS"))
        sums = dict(
            reversed(line.split("  ", 1)) for line in zf.read("SHA256SUMS").decode().splitlines()
        )
        assert set(sums) == set(zf.namelist()) - {"SHA256SUMS", "SHA256SUMS.sig"}
        assert "manifest.json" in sums and "VERIFY.txt" in sums
        for name in sums:
            assert sums[name] == hashlib.sha256(zf.read(name)).hexdigest(), name
        assert hashlib.sha256(manifest_bytes).hexdigest() == sums["manifest.json"]
    (entry,) = [e for e in manifest["files"] if e["path"] == "originals/a.jpg"]
    assert entry == {
        "path": "originals/a.jpg",
        "size": 7,
        "sha256": hashlib.sha256(b"\xff\xd8photo").hexdigest(),
        "kind": "original photo",
        "photo_id": "p1",
    }
    # VERIFY.txt is written after the manifest (it says whether a timestamp went in).
    assert {e["path"] for e in manifest["files"]} == {"originals/a.jpg", "export-public-key.pem"}


def test_an_original_whose_bytes_differ_from_the_recorded_hash_stops_the_archive():
    photo = BundleFile.of_bytes(
        "originals/a.jpg", "original photo", b"altered", expect_sha256="0" * 64
    )
    with pytest.raises(AlteredOriginal):
        b"".join(_archive([photo]))
