"""HTML to PDF for every document we render (consent copies, comparisons, export summaries).

WeasyPrint fetches nothing from outside: a page can hold ``data:`` URIs and the files its
caller hands over by name (``embedded:NAME``); every other URL (``http:``, ``file:``, a
relative path) is refused before it is opened, so text in a consent form can neither make the
worker call out nor pull a local file into the PDF.

Embedding by name rather than as ``data:`` URIs matters for photos: a 400 KB JPEG as base64
is a 530 KB attribute that WeasyPrint's HTML tokenizer walks character by character, and
then decodes again, about 15 ms a page before any layout. The font configuration (fontconfig's
view of the installed fonts) is made once per thread and reused, as WeasyPrint allows.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

EMBEDDED_SCHEME = "embedded"
# The only schemes the renderer may open: what we embed ourselves.
ALLOWED_URL_SCHEMES = frozenset({"data", EMBEDDED_SCHEME})

_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"RIFF", "image/webp"),
)

_local = threading.local()


def embedded_url(name: str) -> str:
    """The URL a template uses for the file passed as ``embedded[name]``."""
    return f"{EMBEDDED_SCHEME}:{name}"


def _content_type(data: bytes) -> str:
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return "application/octet-stream"


def _fetcher(embedded: Mapping[str, bytes]):
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class EmbeddedFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith(EMBEDDED_SCHEME + ":"):
                name = url[len(EMBEDDED_SCHEME) + 1 :]
                if name not in embedded:
                    raise ValueError(f"nothing embedded as {name!r}")
                data = embedded[name]
                return URLFetcherResponse(url, data, {"Content-Type": _content_type(data)})
            return super().fetch(url, headers)

    return EmbeddedFetcher(allowed_protocols=ALLOWED_URL_SCHEMES, allow_redirects=False, timeout=1)


def _font_config():
    from weasyprint.text.fonts import FontConfiguration

    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


def html_to_pdf(html: str, *, embedded: Mapping[str, bytes] | None = None) -> bytes:
    """Any HTML of ours as a PDF; ``embedded`` maps names to the files ``embedded:NAME``
    URLs in the page stand for (nothing else but ``data:`` URIs is fetched)."""
    from PIL import ImageFile
    from weasyprint import HTML  # imported once per worker process, on first use

    # WeasyPrint's import sets this process-wide; our photo checks depend on it being off.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    document = HTML(string=html, base_url=None, url_fetcher=_fetcher(embedded or {}))
    return document.write_pdf(font_config=_font_config())
