"""Comparison figures for `make bench` (run by benchmarks/run.py in a process of its own,
since it sets Django up to render the PDF's template; it touches no database).

Inputs made here: a textured synthetic face as a 12-megapixel phone JPEG (3024 x 4032), the
same face as the after (taken further away, turned 8 degrees, shifted), and their 1600 px
display renditions as the photo pipeline makes them.

- comparison_decode_ms: decoding the two display renditions alone.
- comparison_align_ms: proposing the alignment as the compare page does (decode both display
  renditions, ORB on copies reduced to ALIGN_MAX_SIDE, RANSAC similarity fit).
- align_naive_ms: the same method on the two full-size originals (decode, ORB, fit).
- comparison_image_ms: the worker's aligned image for a given transform, from the rendition
  bytes (decode, warp the common crop, labels, JPEG).
- comparison_pdf_ms: the comparison's A4 PDF from the real template, warm.
- weasyprint_bare_ms: the two display renditions on a bare one-page HTML, warm.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import cv2  # noqa: E402
import django  # noqa: E402

django.setup()

from clinic.models import Clinic, User  # noqa: E402
from clinic.pdf import html_to_pdf  # noqa: E402
from comparisons import alignment, render  # noqa: E402
from comparisons.models import Comparison  # noqa: E402
from patients.models import Patient, TreatmentEpisode  # noqa: E402
from photos.models import Photo  # noqa: E402
from tests.comparisons.images import jpeg, moved, textured_face  # noqa: E402

ORIGINAL = (3024, 4032)
DISPLAY_LONG_SIDE = 1600
REPEATS = 11
PDF_REPEATS = 15  # WeasyPrint's times vary most


def median_ms(functions: dict, repeats: int = REPEATS) -> dict[str, float]:
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def data_url(jpeg_bytes: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode()


def display(image) -> bytes:
    factor = DISPLAY_LONG_SIDE / max(image.shape[:2])
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return jpeg(small, 85)


def pdf_context(picture: render.Rendered, transform: alignment.Transform) -> dict:
    """The PDF's context as the worker builds it, from unsaved rows (no database)."""
    practitioner = User(email="paula@example.test", full_name="Paula Practitioner")
    episode = TreatmentEpisode(
        treatment_type="toxin",
        areas=["forehead"],
        performed_on=date(2026, 1, 10),
        product="Azzalure",
        batch_number="B123",
        practitioner=practitioner,
    )
    taken = datetime(2026, 1, 10, 10, tzinfo=UTC)
    before, after = (
        Photo(
            stage=stage,
            area="forehead",
            view="front",
            taken_at=taken,
            original_sha256="ab" * 32,
            episode=episode,
        )
        for stage in ("before", "after")
    )
    comparison = Comparison(
        before=before,
        after=after,
        created_by=practitioner,
        patient=Patient(first_name="Joanne", last_name="Smith"),
        proposal={"found": True, "inliers": 900},
        warnings=[
            w.as_dict() for w in alignment.geometry_warnings(True, transform, (1, 1), (1, 1))
        ],
    )
    return {
        "clinic": Clinic(name="Harbour Aesthetics"),
        "comparison": comparison,
        "patient_name": "J.S.",
        "before": before,
        "after": after,
        "episodes": [episode],
        "transform": transform,
        "relative_scale": transform.scale,
        "crop": picture.box,
        "nudged": False,
        "rendered_at": taken,
    }


BARE_HTML = """<!doctype html><html><head><meta charset="utf-8"><style>@page {{ size: A4;
margin: 14mm; }} img {{ width: 48%; }}</style></head><body><img src="{0}" alt=""><img src="{1}"
alt=""></body></html>"""


def main() -> None:
    face = textured_face(*ORIGINAL)
    after_face, _ = moved(face, scale=1 / 1.2, degrees=8, shift=(120, -80))
    originals = jpeg(face, 90), jpeg(after_face, 90)
    displays = display(face), display(after_face)
    decoded = [alignment.decode(d) for d in displays]
    transform = alignment.propose(*decoded).transform
    labels = ("Before · 10 Jan 2026", "After · 24 Jan 2026")
    before, after = decoded
    picture = render.aligned_image(before, after, transform, labels)
    context = pdf_context(picture, transform)
    bare = BARE_HTML.format(*(data_url(d) for d in displays))

    def align_page():
        return alignment.propose(*(alignment.decode(d) for d in displays))

    def align_naive():
        return alignment.propose(*(alignment.decode(o) for o in originals), max_side=None)

    def image():
        before, after = (alignment.decode(d) for d in displays)
        return render.aligned_image(before, after, transform, labels)

    figures = median_ms(
        {
            "comparison_decode_ms": lambda: [alignment.decode(d) for d in displays],
            "comparison_align_ms": align_page,
            "comparison_image_ms": image,
        }
    )
    figures |= median_ms({"align_naive_ms": align_naive}, repeats=3)
    figures |= median_ms(
        {
            "comparison_pdf_ms": lambda: render.comparison_pdf(context, picture=picture.jpeg),
            "weasyprint_bare_ms": lambda: html_to_pdf(bare),
        },
        repeats=PDF_REPEATS,
    )
    found = align_naive()
    figures["align_naive_found"] = float(found.found)
    print(json.dumps(figures))


if __name__ == "__main__":
    cv2.setNumThreads(1)  # one core, as the other figures
    main()
