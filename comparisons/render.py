"""The comparison as files: the aligned image (JPEG, both photos at the same height, labels
burnt in below them, never over them) and the A4 PDF (WeasyPrint, fetching nothing but the
``data:`` URIs we embed, as the consent copy does)."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import cv2
import numpy as np
from django.template.loader import render_to_string
from PIL import Image, ImageDraw, ImageFont

from comparisons import alignment
from consent.pdf import html_to_pdf

LABEL_BAND_PX = 64
GAP_PX = 12
JPEG_QUALITY = 88


# The PDF prints the image 182 mm wide: this many pixels is about 250 dpi there. The full
# image is stored beside the PDF; the PDF need not carry more than paper shows.
PRINT_WIDTH_PX = 1800


@dataclass(frozen=True)
class Rendered:
    jpeg: bytes
    box: tuple[int, int, int, int]
    size: tuple[int, int]
    canvas: np.ndarray


@functools.lru_cache(maxsize=8)
def _font(size: int):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def aligned_image(
    before: np.ndarray, after: np.ndarray, transform: alignment.Transform, labels: tuple[str, str]
) -> Rendered:
    """Render the pair for ``transform``: the common crop of the before and the aligned after,
    side by side, each with its label (stage and date) in a band beneath."""
    crop_b, crop_a, box = alignment.render_pair(before, after, transform)
    h, w = crop_b.shape[:2]
    band = max(LABEL_BAND_PX, h // 20)
    width = 2 * w + GAP_PX
    # Only the label band goes through Pillow (for the font); the photos stay OpenCV arrays.
    strip = Image.new("RGB", (width, band), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    font = _font(int(band * 0.45))
    for i, text in enumerate(labels):
        x = i * (w + GAP_PX) + w // 2
        draw.text((x, band // 2), text, fill=(16, 35, 63), font=font, anchor="mm")
    canvas = np.full((h + band, width, 3), 255, np.uint8)
    canvas[:h, :w] = crop_b
    canvas[:h, w + GAP_PX :] = crop_a
    canvas[h:] = cv2.cvtColor(np.asarray(strip), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise ValueError("the comparison image could not be encoded")
    return Rendered(data.tobytes(), box, (width, h + band), canvas)


def print_jpeg(picture: Rendered) -> bytes:
    """The image at the resolution the PDF prints it (never enlarged)."""
    canvas = picture.canvas
    factor = PRINT_WIDTH_PX / canvas.shape[1]
    if factor < 1:
        canvas = cv2.resize(canvas, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover
        raise ValueError("the comparison image could not be encoded")
    return data.tobytes()


def pdf_html(context: dict) -> str:
    return render_to_string("comparisons/pdf.html", context)


def jpeg_data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def comparison_pdf(context: dict) -> bytes:
    """The A4 evidence page as PDF bytes."""
    return html_to_pdf(pdf_html(context))
