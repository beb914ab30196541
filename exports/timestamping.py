"""Trusted timestamps (RFC 3161) on evidence exports: when ``EXPORT_TSA_URL`` names a
time-stamping authority, the worker sends it the SHA-256 of the bundle's manifest.json and puts
the signed reply in the bundle (``timestamp/manifest.json.tsr``), so the bundle proves it
existed at that time, independently of the clinic: ``openssl ts -verify -data manifest.json
-in timestamp/manifest.json.tsr -CAfile ...`` checks it.

The request and reply are built and read with ``rfc3161-client``; the HTTP exchange is a plain
POST (``application/timestamp-query``), bounded in time and size. The reply is checked here
before it goes in: granted, our nonce, our imprint and, when ``EXPORT_TSA_CA_FILE`` names the
authority's CA certificate(s), a valid signature chaining to it (that file then goes into the
bundle too, as ``timestamp/tsa-ca.pem``).
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from django.conf import settings
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from exports.bundle import BundleFile

logger = logging.getLogger("exports")

TOKEN_PATH = "timestamp/manifest.json.tsr"
CA_PATH = "timestamp/tsa-ca.pem"
MAX_REPLY_BYTES = 256 * 1024


class TimestampUnavailable(Exception):
    """The authority could not be reached, refused, or answered something that does not check."""


@dataclass(frozen=True)
class Stamp:
    """A checked reply: its bytes as the authority sent them and the time it vouches for."""

    reply: bytes
    at: datetime
    authority: str


def enabled() -> bool:
    return bool(settings.EXPORT_TSA_URL)


def _roots() -> list[x509.Certificate]:
    path = settings.EXPORT_TSA_CA_FILE
    if not path:
        return []
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def request_stamp(data: bytes, *, url: str | None = None) -> Stamp:
    """Ask the authority for a timestamp of ``data`` and check its reply."""
    url = url or settings.EXPORT_TSA_URL
    if not url.startswith(("https://", "http://")):
        raise TimestampUnavailable(f"EXPORT_TSA_URL must be an http(s) address, not {url!r}")
    # SHA-256: what every authority supports (the library's default, SHA-512, is not), and
    # what the imprint check below and the recipient's `openssl ts -verify` expect.
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    http = urllib.request.Request(  # noqa: S310  # http(s) only, checked above
        url,
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=settings.EXPORT_TSA_TIMEOUT) as answer:  # noqa: S310  # the operator's URL
            raw = answer.read(MAX_REPLY_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise TimestampUnavailable(
            f"the time-stamping authority at {url} did not answer: {error}"
        ) from None
    if len(raw) > MAX_REPLY_BYTES:
        raise TimestampUnavailable("the time-stamping authority's reply is too large")
    try:
        reply = decode_timestamp_response(raw)
    except ValueError as error:
        raise TimestampUnavailable(f"the authority's reply is not a timestamp: {error}") from None
    if reply.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampUnavailable(f"the authority refused: {' '.join(reply.status_string)}")
    info = reply.tst_info
    if info.nonce != request.nonce:
        raise TimestampUnavailable("the authority's reply answers another request (nonce)")
    if info.message_imprint.message != hashlib.sha256(data).digest():
        raise TimestampUnavailable("the authority's reply is for other data (imprint)")
    roots = _roots()
    if roots:
        builder = VerifierBuilder.from_request(request)
        for root in roots:
            builder = builder.add_root_certificate(root)
        try:
            builder.build().verify_message(reply, data)
        except VerificationError as error:
            raise TimestampUnavailable(
                f"the authority's signature does not check against EXPORT_TSA_CA_FILE: {error}"
            ) from None
    return Stamp(reply=raw, at=info.gen_time, authority=url)


def bundle_files(stamp: Stamp) -> list[BundleFile]:
    """The token, and the authority's CA certificate(s) when configured, as bundle files."""
    files = [BundleFile.of_bytes(TOKEN_PATH, "trusted timestamp (RFC 3161 reply)", stamp.reply)]
    if settings.EXPORT_TSA_CA_FILE:
        files.append(
            BundleFile.of_bytes(
                CA_PATH,
                "time-stamping authority's CA certificate",
                Path(settings.EXPORT_TSA_CA_FILE).read_bytes(),
            )
        )
    return files
