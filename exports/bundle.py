"""The streamed ZIP: files go in one after another, each hashed as it passes, then the
manifest (and its trusted timestamp, when one is asked for), SHA256SUMS listing every file
before it, and the clinic's signature of SHA256SUMS: so the one signature covers every byte of
the bundle, and a file added, removed or changed (or SHA256SUMS itself) fails the check.

Nothing is ever whole in memory: the archive is a generator of byte strings that
``vault.storage.blob_store_stream`` reads from (it encrypts and uploads as it goes), and each
object inside comes from ``blob_iter`` segment by segment.

Pure of Django models: callers describe files as ``BundleFile`` (a name, what it is, the ids
it belongs to and a function yielding its bytes).
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Photos, renditions and PDFs are compressed already: stored, never deflated.
STORED = zipfile.ZIP_STORED
DEFLATED = zipfile.ZIP_DEFLATED
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SUMS_SIGNATURE = "SHA256SUMS.sig"
PUBLIC_KEY = "export-public-key.pem"
VERIFY = "VERIFY.txt"
# The only two files SHA256SUMS does not list (itself, and the signature made over it).
UNLISTED = (SUMS, SUMS_SIGNATURE)


@dataclass
class BundleFile:
    """One file of the bundle. ``chunks`` yields its bytes; ``size`` (when known) lets the
    writer choose ZIP64 up front; ``expect_sha256`` is checked as the bytes pass."""

    path: str
    kind: str
    chunks: Callable[[], Iterable[bytes]]
    size: int | None = None
    ids: dict[str, str] = field(default_factory=dict)
    compress: bool = False
    expect_sha256: str = ""

    @classmethod
    def of_bytes(cls, path: str, kind: str, data: bytes, **kwargs: Any) -> BundleFile:
        return cls(path=path, kind=kind, chunks=lambda: [data], size=len(data), **kwargs)


class AlteredOriginal(Exception):
    """An object's bytes do not hash to the value recorded when it was stored."""


class _Sink:
    """A write-only, unseekable file: zipfile writes into it (with data descriptors, as for a
    pipe), and the generator below hands on what has accumulated after every write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class ChunkReader:
    """A file over an iterator of byte strings: what ``blob_store_stream`` reads the archive
    from. ``readinto`` fills the encryptor's buffer directly."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._pending = memoryview(b"")

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                try:
                    self._pending = memoryview(next(self._pieces))
                except StopIteration:
                    break
                continue
            n = min(len(view) - filled, len(self._pending))
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            rest = [bytes(self._pending), *self._pieces]
            self._pending = memoryview(b"")
            return b"".join(rest)
        buffer = bytearray(size)
        n = self.readinto(buffer)
        return bytes(buffer[:n])


def _zip_info(path: str, compress: bool, size: int | None, stamp) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=stamp)
    info.compress_type = DEFLATED if compress else STORED
    info.external_attr = 0o644 << 16
    if size is not None:
        info.file_size = size
    return info


def sums_text(entries: list[dict[str, Any]]) -> bytes:
    """``sha256sum -c`` format: the hash, two spaces, the path."""
    return "".join(f"{e['sha256']}  {e['path']}\n" for e in entries).encode()


@dataclass(frozen=True)
class Sealed:
    """What the archive ended with: the manifest and SHA256SUMS as written (the caller keeps
    their hashes), and whether a trusted timestamp went in."""

    manifest: bytes
    sums: bytes
    timestamped: bool


def archive(
    files: Iterable[BundleFile],
    *,
    manifest_head: dict[str, Any],
    verify_text: Callable[[bool], bytes],
    public_key_pem: bytes,
    sign: Callable[[bytes], bytes],
    timestamp: Callable[[bytes], list[BundleFile]] | None = None,
    on_file: Callable[[int], None] = lambda done: None,
    on_sealed: Callable[[Sealed], None] = lambda sealed: None,
) -> Iterator[bytes]:
    """Yield the ZIP's bytes: ``files``, then the public key, manifest.json (``manifest_head``
    plus every file above with size, SHA-256, kind and ids), the files ``timestamp`` makes of
    the manifest (a time-stamping authority's token), VERIFY.txt (``verify_text(stamped)``, so
    it describes the timestamp only when there is one), SHA256SUMS (every file before it) and
    SHA256SUMS.sig (``sign`` over SHA256SUMS)."""
    sink = _Sink()
    stamp = time.localtime()[:6]
    entries: list[dict[str, Any]] = []
    # The stubs ask for close(), which zipfile never calls on a file it was handed.
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:  # type: ignore[call-overload]

        def put(item: BundleFile) -> Iterator[bytes]:
            digest = hashlib.sha256()
            size = 0
            info = _zip_info(item.path, item.compress, item.size, stamp)
            large = item.size is None or item.size * 1.05 > zipfile.ZIP64_LIMIT
            with zf.open(info, "w", force_zip64=large) as out:
                for chunk in item.chunks():
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                    yield sink.drain()
            yield sink.drain()
            sha = digest.hexdigest()
            if item.expect_sha256 and sha != item.expect_sha256:
                raise AlteredOriginal(f"{item.path} does not match its recorded SHA-256")
            entry: dict[str, Any] = {"path": item.path, "size": size, "sha256": sha}
            entry["kind"] = item.kind
            entry.update(item.ids)
            if item.expect_sha256:
                entry["recorded_sha256"] = item.expect_sha256
            entries.append(entry)

        for done, item in enumerate(files, start=1):
            yield from put(item)
            on_file(done)
        yield from put(BundleFile.of_bytes(PUBLIC_KEY, "public key", public_key_pem))
        manifest = json.dumps({**manifest_head, "files": entries}, indent=2).encode() + b"\n"
        yield from put(BundleFile.of_bytes(MANIFEST, "manifest", manifest, compress=True))
        stamped = timestamp(manifest) if timestamp is not None else []
        for item in stamped:
            yield from put(item)
        text = verify_text(bool(stamped))
        yield from put(BundleFile.of_bytes(VERIFY, "how to verify", text, compress=True))
        sums = sums_text(entries)
        yield from put(BundleFile.of_bytes(SUMS, "checksums", sums, compress=True))
        zf.writestr(_zip_info(SUMS_SIGNATURE, False, 64, stamp), sign(sums))
        yield sink.drain()
    yield sink.drain()
    on_sealed(Sealed(manifest=manifest, sums=sums, timestamped=bool(stamped)))
