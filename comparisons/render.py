"""The comparison as files: the aligned image (JPEG, both photos at the same height, labels
burnt in below them, never over them) and the A4 PDF (WeasyPrint through ``clinic.pdf``,
fetching nothing but the files we hand it).

The PDF carries the stored aligned JPEG itself, byte for byte (WeasyPrint embeds a JPEG as it
is), so the page and the image file beside it show the same pixels and the PDF prints the
image's SHA-256; nothing is re-encoded for print."""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from django.template.loader import render_to_string
from PIL import Image, ImageDraw, ImageFont

from clinic.pdf import embedded_url, html_to_pdf
from comparisons import alignment

LABEL_BAND_PX = 64
GAP_PX = 12
JPEG_QUALITY = 88
LABEL_BGR = (63, 35, 16)  # the page's ink, #10233f


@dataclass(frozen=True)
class Rendered:
    jpeg: bytes
    box: tuple[int, int, int, int]
    size: tuple[int, int]


@functools.lru_cache(maxsize=8)
def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


_scratch = threading.local()


def _canvas(shape: tuple[int, int, int]) -> np.ndarray:
    """A scratch array of ``shape`` from this thread's reused buffer. A fresh 12 MB array
    each render cost about a millisecond of page faults (glibc maps allocations that large
    anew every time); the image leaves as encoded bytes, so the buffer is free again after."""
    size = shape[0] * shape[1] * shape[2]
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _scratch.buffer = np.empty(size, np.uint8)
    return buffer[:size].reshape(shape)


def aligned_image(
    before: np.ndarray, after: np.ndarray, transform: alignment.Transform, labels: tuple[str, str]
) -> Rendered:
    """Render the pair for ``transform``: the common crop of the before and the aligned after,
    side by side, each with its label (stage and date) in a band beneath."""
    box = alignment.crop_box(before.shape[1::-1], after.shape[1::-1], transform)
    if box is None:
        raise ValueError("the photos do not overlap under this transform")
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    band = max(LABEL_BAND_PX, h // 20)
    width = 2 * w + GAP_PX
    canvas = _canvas((h + band, width, 3))
    canvas[:h, :w] = before[y0:y1, x0:x1]
    canvas[:h, w : w + GAP_PX] = 255
    # The after is warped straight into its place on the canvas (no copy of the crop).
    alignment.place_after(after, transform, box, out=canvas[:h, w + GAP_PX :])
    # Only the label band goes through Pillow (for the font); the photos stay OpenCV arrays.
    # Pillow draws in the canvas's own channel order (the colour given as blue, green, red), so
    # the band is copied in without a conversion.
    strip = Image.new("RGB", (width, band), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    font = _font(int(band * 0.45))
    for i, text in enumerate(labels):
        x = i * (w + GAP_PX) + w // 2
        draw.text((x, band // 2), text, fill=LABEL_BGR, font=font, anchor="mm")
    canvas[h:] = np.asarray(strip)
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise ValueError("the comparison image could not be encoded")
    return Rendered(data.tobytes(), box, (width, h + band))


def pdf_html(context: dict) -> str:
    return render_to_string("comparisons/pdf.html", context)


def comparison_pdf(context: dict, *, picture: bytes, logo: bytes | None = None) -> bytes:
    """The A4 evidence page as PDF bytes, carrying ``picture`` (the stored aligned JPEG)."""
    embedded = {"picture": picture} | ({"logo": logo} if logo else {})
    context = {
        **context,
        "picture_url": embedded_url("picture"),
        "picture_sha256": hashlib.sha256(picture).hexdigest(),
        "logo_url": embedded_url("logo") if logo else "",
    }
    return html_to_pdf(pdf_html(context), embedded=embedded)
