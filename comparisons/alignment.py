"""Alignment and comparability, pure (numpy and OpenCV, no Django), like ``photos.imaging``.

A comparison lays the *after* photo onto the *before* with one similarity transform (scale,
rotation, shift) and a common crop; no pixel is changed otherwise. The proposal comes from the
images themselves: ORB features on reduced copies, matched, and a RANSAC similarity fit
(``cv2.estimateAffinePartial2D``). A fit with too few inliers is refused ("no alignment found")
rather than returned as a wild transform.

Coordinates: a transform maps a pixel of the after's display rendition to a pixel of the
before's display rendition: ``x' = s·R(θ)·x + (tx, ty)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# Features are found on copies whose long side is at most this: ORB's cost grows with the
# pixels, its precision much less (the fit is refined on all inliers).
ALIGN_MAX_SIDE = 800
ORB_FEATURES = 3000
RATIO_TEST = 0.8
RANSAC_THRESHOLD_PX = 4.0
# An unrelated pair gives a handful of chance inliers (7 of 746 measured); a real pair hundreds.
MIN_INLIERS = 30
MIN_INLIER_SHARE = 0.2

# Comparability thresholds: past these the pair is flagged (it can still be made).
SCALE_WARNING = 0.10  # 10 % nearer or further
ROTATION_WARNING_DEG = 5.0
BRIGHTNESS_WARNING = 0.10  # 10 % of the before's mean lightness
COLOUR_WARNING = 6.0  # distance in CIELAB a*/b* (about a just-noticeable white-balance shift x3)
MIN_OVERLAP_SHARE = 0.05


@dataclass(frozen=True)
class Transform:
    """A similarity transform from after-pixels to before-pixels."""

    scale: float
    rotation: float  # degrees, counter-clockwise in image coordinates (y down)
    tx: float
    ty: float

    def matrix(self) -> np.ndarray:
        angle = math.radians(self.rotation)
        a, b = self.scale * math.cos(angle), self.scale * math.sin(angle)
        return np.array([[a, -b, self.tx], [b, a, self.ty]], dtype=np.float64)

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> Transform:
        a, b = float(m[0, 0]), float(m[1, 0])
        return cls(
            scale=math.hypot(a, b),
            rotation=math.degrees(math.atan2(b, a)),
            tx=float(m[0, 2]),
            ty=float(m[1, 2]),
        )

    @classmethod
    def fit_height(cls, before_size: tuple[int, int], after_size: tuple[int, int]) -> Transform:
        """No alignment: the after at the before's height, centred."""
        (bw, bh), (aw, ah) = before_size, after_size
        s = bh / ah
        return cls(scale=s, rotation=0.0, tx=(bw - aw * s) / 2, ty=0.0)

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Transform:
        values = {k: float(data[k]) for k in ("scale", "rotation", "tx", "ty")}
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError("transform values must be finite numbers")
        return cls(**values)


@dataclass(frozen=True)
class Proposal:
    found: bool
    transform: Transform
    inliers: int
    matches: int

    def as_dict(self) -> dict:
        return {
            "found": self.found,
            "inliers": self.inliers,
            "matches": self.matches,
            **self.transform.as_dict(),
        }


@dataclass(frozen=True)
class Warning:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def decode(data: bytes) -> np.ndarray:
    """A JPEG (or PNG) as a BGR array."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


def _reduced_gray(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    factor = min(1.0, max_side / max(gray.shape[:2]))
    if factor < 1.0:
        gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return gray, factor


def propose(
    before: np.ndarray, after: np.ndarray, *, max_side: int | None = ALIGN_MAX_SIDE
) -> Proposal:
    """The after laid onto the before, found from the images; ``found`` is False (and the
    transform a plain same-height fit) when no trustworthy fit exists."""
    bh, bw = before.shape[:2]
    ah, aw = after.shape[:2]
    fallback = Transform.fit_height((bw, bh), (aw, ah))
    limit = max_side or 1 << 30
    gray_b, fb = _reduced_gray(before, limit)
    gray_a, fa = _reduced_gray(after, limit)
    orb = cv2.ORB.create(nfeatures=ORB_FEATURES)
    kb, db = orb.detectAndCompute(gray_b, None)
    ka, da = orb.detectAndCompute(gray_a, None)
    if db is None or da is None or len(kb) < MIN_INLIERS or len(ka) < MIN_INLIERS:
        return Proposal(False, fallback, 0, 0)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
    if len(good) < MIN_INLIERS:
        return Proposal(False, fallback, 0, len(good))
    src = np.array([ka[m.queryIdx].pt for m in good], np.float32) / fa
    dst = np.array([kb[m.trainIdx].pt for m in good], np.float32) / fb
    matrix, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_THRESHOLD_PX / min(fa, fb),
        maxIters=4000,
        confidence=0.995,
    )
    inliers = int(mask.sum()) if mask is not None else 0
    if matrix is None or inliers < MIN_INLIERS or inliers < MIN_INLIER_SHARE * len(good):
        return Proposal(False, fallback, inliers, len(good))
    transform = Transform.from_matrix(matrix)
    if not 0.2 < transform.scale * ah / bh < 5:
        return Proposal(False, fallback, inliers, len(good))
    return Proposal(True, transform, inliers, len(good))


def warp(before: np.ndarray, after: np.ndarray, transform: Transform) -> np.ndarray:
    """The after in the before's frame; pixels it does not cover are black."""
    bh, bw = before.shape[:2]
    return cv2.warpAffine(
        after, transform.matrix(), (bw, bh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
    )


def coverage(before_size: tuple[int, int], after_size: tuple[float, float], t: Transform):
    """Mask (uint8, before's frame) of where the transformed after lands."""
    bw, bh = before_size
    aw, ah = after_size
    corners = np.array([[0, 0], [aw, 0], [aw, ah], [0, ah]], np.float32).reshape(-1, 1, 2)
    placed = cv2.transform(corners, t.matrix()).reshape(-1, 2)
    mask = np.zeros((bh, bw), np.uint8)
    cv2.fillConvexPoly(mask, np.round(placed).astype(np.int32), 255)
    return mask


def common_crop(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest-ish axis-aligned rectangle (x0, y0, x1, y1) inside a convex mask: start at
    its bounding box and pull in the edge with the most uncovered pixels until none has any."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    step = max(1, max(mask.shape) // 200)
    holes = mask == 0  # counted once; each step only counts along the four edges
    count = np.count_nonzero
    while x1 - x0 > 2 * step and y1 - y0 > 2 * step:
        edges = {
            "top": count(holes[y0, x0:x1]),
            "bottom": count(holes[y1 - 1, x0:x1]),
            "left": count(holes[y0:y1, x0]),
            "right": count(holes[y0:y1, x1 - 1]),
        }
        worst = max(edges, key=edges.__getitem__)
        if edges[worst] == 0:
            return x0, y0, x1, y1
        if worst == "top":
            y0 += step
        elif worst == "bottom":
            y1 -= step
        elif worst == "left":
            x0 += step
        else:
            x1 -= step
    return None


# The crop is searched on a mask this many times smaller, then scaled back inwards.
CROP_SEARCH_FACTOR = 4


def _inside_after(
    box: tuple[int, int, int, int], after_size: tuple[float, float], t: Transform
) -> tuple[int, int, int, int]:
    """``box`` pulled in, a pixel at a time, until each of its corner pixels samples inside the
    after: the search runs on a reduced mask, whose rounding could leave a corner pixel a
    fraction outside, where the warp would paint border black. The after's outline is convex,
    so four corners inside means every pixel of the box is."""
    aw, ah = after_size
    inverse = cv2.invertAffineTransform(t.matrix())
    x0, y0, x1, y1 = box

    def outside(x: float, y: float) -> bool:
        u, v = inverse @ (x, y, 1.0)
        return not (0.0 <= u <= aw - 1 and 0.0 <= v <= ah - 1)

    for _ in range(4 * CROP_SEARCH_FACTOR):
        if x1 - x0 < 2 or y1 - y0 < 2:
            break
        corners = [(x0, y0), (x1 - 1, y0), (x0, y1 - 1), (x1 - 1, y1 - 1)]
        out = [outside(x, y) for x, y in corners]
        if not any(out):
            break
        x0 += out[0] or out[2]
        x1 -= out[1] or out[3]
        y0 += out[0] or out[1]
        y1 -= out[2] or out[3]
    return x0, y0, x1, y1


def crop_box(
    before_size: tuple[int, int], after_size: tuple[int, int], t: Transform
) -> tuple[int, int, int, int] | None:
    """The common crop of the pair under ``t`` in the before's frame, or None if they barely
    overlap."""
    k = CROP_SEARCH_FACTOR
    bw, bh = before_size
    small = Transform(t.scale, t.rotation, t.tx / k, t.ty / k)
    aw, ah = after_size
    # The after's outline at 1/k, shrunk by a pixel so rounding never lets an edge pixel in.
    mask = coverage((math.ceil(bw / k), math.ceil(bh / k)), (aw / k, ah / k), small)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    box = common_crop(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    x0, y0 = min(bw, x0 * k), min(bh, y0 * k)
    x1, y1 = min(bw, x1 * k), min(bh, y1 * k)
    x0, y0, x1, y1 = _inside_after((x0, y0, x1, y1), after_size, t)
    if x1 <= x0 or y1 <= y0:
        return None
    if (x1 - x0) * (y1 - y0) < MIN_OVERLAP_SHARE * bw * bh:
        return None
    return x0, y0, x1, y1


def light_difference(before: np.ndarray, placed_after: np.ndarray, box) -> dict[str, float]:
    """Mean lightness and colour (CIELAB) of each on the aligned overlap."""
    x0, y0, x1, y1 = box
    step = max(1, (x1 - x0) // 200)
    region_b = before[y0:y1:step, x0:x1:step]
    region_a = placed_after[y0:y1:step, x0:x1:step]
    lab_b = cv2.cvtColor(region_b, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float64)
    lab_a = cv2.cvtColor(region_a, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float64)
    # OpenCV's 8-bit LAB: L scaled to 0..255, a and b offset by 128.
    mb, ma = lab_b.mean(axis=0), lab_a.mean(axis=0)
    return {
        "lightness_before": float(mb[0] * 100 / 255),
        "lightness_after": float(ma[0] * 100 / 255),
        "a_shift": float(ma[1] - mb[1]),
        "b_shift": float(ma[2] - mb[2]),
    }


def geometry_warnings(
    proposal_found: bool,
    transform: Transform,
    before_size: tuple[int, int],
    after_size: tuple[int, int],
    matches: tuple[int, int] = (0, 0),
) -> list[Warning]:
    """Warnings from the transform alone: no alignment, scale change, rotation."""
    warnings = []
    if not proposal_found:
        inliers, found = matches
        warnings.append(
            Warning(
                "no_alignment",
                "No alignment found from the images "
                f"({inliers} consistent matching points, at least {MIN_INLIERS} needed): the "
                "after is shown at the before's height; line it up by hand and check it.",
            )
        )
    # Relative to the two renditions at the same height, so resolution does not count.
    relative = transform.scale * after_size[1] / before_size[1]
    if abs(relative - 1) > SCALE_WARNING:
        nearer = "further away" if relative > 1 else "nearer"
        warnings.append(
            Warning(
                "scale",
                f"Scale differs: the after is scaled {relative:.2f}× to match the before "
                f"(taken about {abs(relative - 1) * 100:.0f} % {nearer}); "
                f"more than {SCALE_WARNING * 100:.0f} % makes sizes hard to compare.",
            )
        )
    rotation = (transform.rotation + 180) % 360 - 180
    if abs(rotation) > ROTATION_WARNING_DEG:
        warnings.append(
            Warning(
                "rotation",
                f"Rotation: the after is turned {abs(rotation):.1f}° "
                f"{'anticlockwise' if rotation < 0 else 'clockwise'} to match the before "
                f"(more than {ROTATION_WARNING_DEG:.0f}°); the head was tilted differently.",
            )
        )
    return warnings


def light_warnings(light: dict[str, float]) -> list[Warning]:
    """Warnings from the light on the overlap: brightness and white balance."""
    warnings = []
    lb, la = light["lightness_before"], light["lightness_after"]
    if lb > 0 and abs(la - lb) / lb > BRIGHTNESS_WARNING:
        warnings.append(
            Warning(
                "brightness",
                f"Brightness differs: the after is {abs(la - lb) / lb * 100:.0f} % "
                f"{'brighter' if la > lb else 'darker'} than the before on the overlap "
                f"(lightness {la:.0f} vs {lb:.0f} of 100); shadows and redness read differently.",
            )
        )
    a, b = light["a_shift"], light["b_shift"]
    shift = math.hypot(a, b)
    if shift > COLOUR_WARNING:
        tone = []
        if abs(b) >= COLOUR_WARNING / 2:
            tone.append("warmer (yellower)" if b > 0 else "cooler (bluer)")
        if abs(a) >= COLOUR_WARNING / 2:
            tone.append("redder" if a > 0 else "greener")
        warnings.append(
            Warning(
                "white_balance",
                f"White balance differs: the after is {' and '.join(tone) or 'tinted'} than the "
                f"before (colour shift {shift:.1f} in CIELAB a*/b*, more than "
                f"{COLOUR_WARNING:.0f}); skin tone and redness are not comparable.",
            )
        )
    return warnings


def place_after(
    after: np.ndarray,
    transform: Transform,
    box: tuple[int, int, int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The after under ``transform``, cut to ``box`` of the before's frame (into ``out`` when
    given, a view of the right size, so no copy is made)."""
    x0, y0, x1, y1 = box
    # Warp only the crop: shift the transform so the crop's corner is the origin.
    shifted = Transform(transform.scale, transform.rotation, transform.tx - x0, transform.ty - y0)
    placed = cv2.warpAffine(
        after, shifted.matrix(), (x1 - x0, y1 - y0), dst=out, flags=cv2.INTER_LINEAR
    )
    if out is not None and not np.shares_memory(placed, out):  # pragma: no cover
        out[...] = placed  # OpenCV made its own array: copy it in
    return placed


def render_pair(
    before: np.ndarray,
    after: np.ndarray,
    transform: Transform,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The two crops of the same region, before and aligned after, same size."""
    bh, bw = before.shape[:2]
    ah, aw = after.shape[:2]
    box = crop_box((bw, bh), (aw, ah), transform)
    if box is None:
        raise ValueError("the photos do not overlap under this transform")
    x0, y0, x1, y1 = box
    return before[y0:y1, x0:x1], place_after(after, transform, box), box
