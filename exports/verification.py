"""Checking a bundle the way its recipient does, in one place: the clinic's ``verify_export``
command and the admins' upload form both call ``verify_bundle``. It runs the steps VERIFY.txt
gives (the signature of SHA256SUMS under one of the clinic's own keys, every file against
SHA256SUMS, nothing added) and more that a person would not do by hand (manifest.json agrees
with SHA256SUMS, the trusted timestamp is for this manifest), and names every file that differs.

Pure of the database: the caller passes the clinic's published keys.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exports import bundle
from exports.timestamping import CA_PATH, TOKEN_PATH

LEGACY_SIGNATURE = "manifest.sig"  # bundles of format /1 signed the manifest only
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class PublishedKey:
    """One of the clinic's keys, as its key page publishes it."""

    fingerprint: str
    pem: str
    created: str = ""
    retired: str = ""


@dataclass
class Report:
    """What the check found: ``problems`` name the file each is about; ``notes`` say what held."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    signed_by: PublishedKey | None = None
    files_checked: int = 0
    timestamp: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, file: str, what: str) -> None:
        self.problems.append((file, what))

    @property
    def changed_files(self) -> list[str]:
        return sorted({file for file, _ in self.problems})


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_sums(text: bytes, report: Report) -> dict[str, str]:
    listed: dict[str, str] = {}
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), start=1):
        sha, sep, name = line.partition("  ")
        if not sep or len(sha) != 64 or not name:
            report.problem(bundle.SUMS, f"line {number} is not a SHA-256 line: {line[:80]!r}")
            continue
        listed[name] = sha.lower()
    return listed


def _verify_signature(
    message: bytes, signature: bytes, keys: list[PublishedKey], signed_file: str, report: Report
) -> None:
    for key in keys:
        public = serialization.load_pem_public_key(key.pem.encode())
        if not isinstance(public, Ed25519PublicKey):
            continue
        try:
            public.verify(signature, message)
        except InvalidSignature:
            continue
        report.signed_by = key
        report.notes.append(
            f"{signed_file} is signed by the clinic's key {key.fingerprint[:16]}… "
            f"({'retired ' + key.retired if key.retired else 'current'})"
        )
        return
    report.problem(
        signed_file,
        "its signature does not check with any of the clinic's published keys: it was changed "
        "after signing, or the bundle was re-signed with another key",
    )


def _bundled_key_note(zf: zipfile.ZipFile, names: set[str], keys, report: Report) -> None:
    from exports.signing import fingerprint_of_pem

    if bundle.PUBLIC_KEY not in names:
        return
    fingerprint = fingerprint_of_pem(zf.read(bundle.PUBLIC_KEY))
    if fingerprint not in {k.fingerprint for k in keys}:
        report.problem(
            bundle.PUBLIC_KEY,
            f"the key in the bundle ({(fingerprint or 'not an Ed25519 key')[:16]}…) is not one "
            "of the clinic's published keys",
        )


def _check_timestamp(
    zf: zipfile.ZipFile, names: set[str], manifest_bytes: bytes, roots, report: Report
) -> None:
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    if TOKEN_PATH not in names:
        report.timestamp = "none in this bundle"
        return
    try:
        reply = decode_timestamp_response(zf.read(TOKEN_PATH))
    except ValueError as error:
        report.problem(TOKEN_PATH, f"not a timestamp reply: {error}")
        return
    if reply.tst_info.message_imprint.message != hashlib.sha256(manifest_bytes).digest():
        report.problem(TOKEN_PATH, "the timestamp is not of this manifest.json")
        return
    at = f"{reply.tst_info.gen_time:%Y-%m-%d %H:%M:%S} UTC"
    anchors = list(roots)
    if not anchors and CA_PATH in names:
        anchors = x509.load_pem_x509_certificates(zf.read(CA_PATH))
    if not anchors:
        report.timestamp = f"{at} (the authority's signature not checked: no CA certificate)"
        return
    builder = VerifierBuilder()
    for root in anchors:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(reply, manifest_bytes)
    except VerificationError as error:
        report.problem(TOKEN_PATH, f"the authority's signature does not check: {error}")
        return
    report.timestamp = f"{at}, signed by the time-stamping authority"
    report.notes.append(f"manifest.json was time-stamped at {at}")


def verify_bundle(
    source: str | Path | IO[bytes],
    *,
    keys: list[PublishedKey],
    tsa_roots: list[x509.Certificate] | tuple = (),
) -> Report:
    """Check a bundle against the clinic's published ``keys``; see the module's docstring."""
    report = Report()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        report.problem("(the file)", f"not a ZIP archive that can be read: {error}")
        return report
    with zf:
        entries = [i.filename for i in zf.infolist() if not i.is_dir()]
        names = set(entries)
        for name in entries:
            if name.startswith("/") or ".." in name.split("/"):
                report.problem(name, "a path outside the bundle's folder")
        if entries.count(bundle.SUMS) > 1 or len(names) != len(entries):
            report.problem("(the archive)", "a file name appears twice")
        if bundle.SUMS not in names:
            report.problem(bundle.SUMS, "missing: the bundle cannot be checked without it")
            return report
        sums = zf.read(bundle.SUMS)
        legacy = bundle.SUMS_SIGNATURE not in names and LEGACY_SIGNATURE in names
        if legacy:
            report.notes.append(
                "an older bundle (format 1): its signature covers manifest.json, not SHA256SUMS"
            )
            signed_file, signature_file = bundle.MANIFEST, LEGACY_SIGNATURE
        else:
            signed_file, signature_file = bundle.SUMS, bundle.SUMS_SIGNATURE
        if signature_file not in names or signed_file not in names:
            report.problem(signature_file, "missing: nothing shows who made the bundle")
        else:
            _verify_signature(
                zf.read(signed_file), zf.read(signature_file), keys, signed_file, report
            )
        _bundled_key_note(zf, names, keys, report)

        listed = _parse_sums(sums, report)
        unlisted = {bundle.SUMS, bundle.SUMS_SIGNATURE, LEGACY_SIGNATURE}
        for name, expected in listed.items():
            if name not in names:
                report.problem(name, "listed in SHA256SUMS but missing from the bundle (removed)")
                continue
            actual = _sha256(zf, name)
            report.files_checked += 1
            if actual != expected:
                report.problem(
                    name, f"changed: its SHA-256 is {actual}, SHA256SUMS says {expected}"
                )
        for name in entries:
            if name not in listed and name not in unlisted:
                report.problem(name, "added: not in the signed list of files (SHA256SUMS)")

        manifest_bytes = zf.read(bundle.MANIFEST) if bundle.MANIFEST in names else b""
        try:
            report.manifest = json.loads(manifest_bytes) if manifest_bytes else {}
        except ValueError:
            report.problem(bundle.MANIFEST, "not valid JSON")
        for entry in report.manifest.get("files", []) if report.manifest else []:
            path, sha = entry.get("path"), entry.get("sha256")
            if path in listed and listed[path] != sha:
                report.problem(bundle.MANIFEST, f"its SHA-256 for {path} differs from SHA256SUMS")
            elif path not in listed and not legacy:
                report.problem(bundle.MANIFEST, f"lists {path}, which SHA256SUMS does not")
            recorded = entry.get("recorded_sha256")
            if recorded and recorded != sha:
                report.problem(path, "its SHA-256 differs from the one recorded at upload")
        if manifest_bytes:
            _check_timestamp(zf, names, manifest_bytes, tsa_roots, report)
    return report
