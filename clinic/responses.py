"""The one way a file of patient data leaves the app: a decrypted photo, comparison, consent
PDF or signature, an evidence ZIP, an audit CSV. Never stored by a browser or proxy, never
sniffed into another type, and sandboxed if opened on its own (a PDF excepted: the browser's
viewer needs scripts of its own)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import overload

from django.http import HttpResponse, StreamingHttpResponse

NO_STORE = "private, no-store, max-age=0"
SANDBOX = "default-src 'none'; sandbox"


@overload
def file_response(
    content: bytes | bytearray,
    content_type: str,
    *,
    filename: str | None = None,
    attachment: bool = False,
    length: int | None = None,
) -> HttpResponse: ...


# Streamed chunks may be text too: Django encodes them in the response's charset.
@overload
def file_response(
    content: Iterable[bytes] | Iterable[str],
    content_type: str,
    *,
    filename: str | None = None,
    attachment: bool = False,
    length: int | None = None,
) -> StreamingHttpResponse: ...


def file_response(
    content: bytes | bytearray | Iterable[bytes] | Iterable[str],
    content_type: str,
    *,
    filename: str | None = None,
    attachment: bool = False,
    length: int | None = None,
) -> HttpResponse | StreamingHttpResponse:
    """``content`` (bytes, or chunks to stream) as a response with the headers above; with
    ``filename``, named inline or, with ``attachment``, as a download."""
    if isinstance(content, bytes | bytearray):
        response: HttpResponse | StreamingHttpResponse = HttpResponse(
            content, content_type=content_type
        )
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Cache-Control"] = NO_STORE
    response["X-Content-Type-Options"] = "nosniff"
    if content_type != "application/pdf":
        response["Content-Security-Policy"] = SANDBOX
    if filename:
        disposition = "attachment" if attachment else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    if length is not None:
        response["Content-Length"] = str(length)
    return response
