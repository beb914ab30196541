"""``manage.py compare_photos BEFORE AFTER [--json]``: the comparison's proposal and checks on
two image files, for clinics, assessors and tests. It reads the two files and nothing else:
no database, no vault, nothing written."""

from __future__ import annotations

import json as json_module
from pathlib import Path

import cv2
import numpy as np
from django.core.management.base import BaseCommand, CommandError

from comparisons import alignment
from photos import faces


def _read(path: str) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"{path}: cannot be read ({error.strerror}).") from error
    # IMREAD_COLOR turns the image upright by its EXIF orientation, as the upload step does.
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise CommandError(f"{path}: not an image this command can read (JPEG, PNG, WebP).")
    return image


class Command(BaseCommand):
    help = (
        "Propose an alignment of AFTER onto BEFORE from the faces and say what makes the pair "
        "less comparable (refusals and warnings); touches no database."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("before", help="the before photo (a JPEG, PNG or WebP file)")
        parser.add_argument("after", help="the after photo")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--area", default=None, help="the treated area (masked out of the fit)")

    def handle(self, *args, before: str, after: str, json: bool = False, area=None, **options):
        before_image, after_image = _read(before), _read(after)
        try:
            marks_b, marks_a = faces.find(before_image), faces.find(after_image)
        except faces.ModelsMissing as error:
            raise CommandError(f"The face models are not installed: {error}.") from error
        proposal, warnings, light = alignment.checks(
            before_image, after_image, marks_b, marks_a, area=area
        )
        refusals = [w.as_dict() for w in proposal.refusals]
        codes = {r["code"] for r in refusals}
        result: dict = {
            "matrix": proposal.matrix(),
            "method": proposal.method or None,
            "refusals": refusals,
            "warnings": [w.as_dict() for w in warnings if w.code not in codes],
            "measures": proposal.measures,
            "light": {k: round(v, 3) for k, v in light.items()},
            "before_size": list(before_image.shape[1::-1]),
            "after_size": list(after_image.shape[1::-1]),
        }
        if json:
            self.stdout.write(_dumps(result))
            return
        if result["matrix"] is None:
            self.stdout.write("No alignment proposed.")
        else:
            t = proposal.transform
            self.stdout.write(
                f"Alignment ({proposal.method}): scale {t.scale:.4f}, rotation "
                f"{t.rotation:.2f}°, shift ({t.tx:.1f}, {t.ty:.1f}) px"
            )
        for kind, items in (("Refused", refusals), ("Warning", result["warnings"])):
            for item in items:
                self.stdout.write(f"{kind} [{item['code']}]: {item['message']}")
        if not refusals and not result["warnings"]:
            self.stdout.write("No differences found.")


def _dumps(value) -> str:
    return json_module.dumps(value, ensure_ascii=False)
