"""The comparison as files: the aligned image (JPEG, both photos at the same height, labels
burnt in below them, never over them) and the A4 PDF (WeasyPrint, fetching nothing but the
``data:`` URIs we embed, as the consent copy does)."""

from __future__ import annotations

import base64
import io
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


@dataclass(frozen=True)
class Rendered:
    jpeg: bytes
    box: tuple[int, int, int, int]
    light: dict[str, float]
    size: tuple[int, int]


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
    light = alignment.light_difference(crop_b, crop_a, (0, 0, crop_b.shape[1], crop_b.shape[0]))
    h, w = crop_b.shape[:2]
    band = max(LABEL_BAND_PX, h // 20)
    canvas = np.full((h + band, 2 * w + GAP_PX, 3), 255, np.uint8)
    canvas[:h, :w] = crop_b
    canvas[:h, w + GAP_PX :] = crop_a
    picture = Image.fromarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(picture)
    font = _font(int(band * 0.45))
    for i, text in enumerate(labels):
        x = i * (w + GAP_PX) + w // 2
        draw.text((x, h + band // 2), text, fill=(16, 35, 63), font=font, anchor="mm")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return Rendered(out.getvalue(), box, light, picture.size)


def pdf_html(context: dict) -> str:
    return render_to_string("comparisons/pdf.html", context)


def jpeg_data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def comparison_pdf(context: dict) -> bytes:
    """The A4 evidence page as PDF bytes."""
    return html_to_pdf(pdf_html(context))
