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

from photos import faces

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
    gray = _gray(image)
    factor = min(1.0, max_side / max(gray.shape[:2]))
    if factor < 1.0:
        gray = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return gray, factor


def propose(
    before: np.ndarray,
    after: np.ndarray,
    *,
    max_side: int | None = ALIGN_MAX_SIDE,
    features: int = ORB_FEATURES,
) -> Proposal:
    """The after laid onto the before, found from the images; ``found`` is False (and the
    transform a plain same-height fit) when no trustworthy fit exists."""
    bh, bw = before.shape[:2]
    ah, aw = after.shape[:2]
    fallback = Transform.fit_height((bw, bh), (aw, ah))
    limit = max_side or 1 << 30
    gray_b, fb = _reduced_gray(before, limit)
    gray_a, fa = _reduced_gray(after, limit)
    orb = cv2.ORB.create(nfeatures=features)
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
    # Relative to the two renditions at the same long side (as one camera takes them), so
    # neither resolution nor a landscape framing counts.
    relative = relative_scale(transform, before_size, after_size)
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
    where = "on the skin of the face" if "skin_pixels" in light else "on the overlap"
    lb, la = light["lightness_before"], light["lightness_after"]
    if lb > 0 and abs(la - lb) / lb > BRIGHTNESS_WARNING:
        warnings.append(
            Warning(
                "brightness",
                f"Brightness differs: the after is {abs(la - lb) / lb * 100:.0f} % "
                f"{'brighter' if la > lb else 'darker'} than the before {where} "
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
                "colour",
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


# --- alignment from the face ------------------------------------------------------------------
#
# The clinical convention: the after is laid on the before so that the two eye centres meet
# (a similarity has exactly four degrees of freedom, and two points give four numbers). ECC
# then refines it on the upper face (brows, eyes, nose), but only within a trust region: if it
# would move either eye by more than EYE_TRUST of the inter-ocular distance it is not used. A
# feature fit (ORB, above) is kept only where it agrees with the eyes: it is the more exact of
# the two when the after is the same shot re-taken, and wrong when it locks onto a backdrop.

# dlib's operating point for its descriptor (99.4 % on LFW); measured on the test photographs
# (tests/comparisons/real_faces.py): one person 0.33 to 0.44 across sessions, two people 0.80+.
SAME_PERSON_DISTANCE = 0.6
EYE_TRUST = 0.04  # ECC may move an eye by at most 4 % of the inter-ocular distance
FEATURES_AGREE = 0.02  # a feature fit is kept when it puts both eyes within 2 % of the eyes'
ECC_IOD_PX = 72  # the upper face is refined at this inter-ocular distance (pixels)
# The feature fit beside the eyes only has to agree with them, not find a pair alone: smaller
# copies and fewer features than ALIGN_MAX_SIDE and ORB_FEATURES.
FEATURES_MAX_SIDE = 640
FEATURES_COUNT = 1500
ECC_MIN_CORRELATION = 0.3
YAW_WARNING_DEG = 8.0  # a turn of the head between the two, measured from the landmarks
PITCH_WARNING_DEG = 12.0
MIRROR_MARGIN = 0.08  # the flipped after correlates this much better: it is mirrored
MIRROR_MIN_CORRELATION = 0.5

# Where the treated area lies on the upper face, in eye coordinates (the eye line at y=0, the
# eyes at x=-0.5 and x=+0.5, the inter-ocular distance as unit): masked out of ECC's fit so the
# alignment does not absorb the treatment.
TREATED_ZONES: dict[str, list[tuple[float, float, float, float]]] = {
    "forehead": [(-1.2, -1.6, 1.2, -0.55)],
    "glabella": [(-0.3, -0.9, 0.3, 0.05)],
    "crows_feet": [(-1.3, -0.4, -0.75, 0.5), (0.75, -0.4, 1.3, 0.5)],
    "tear_trough": [(-0.9, 0.15, 0.9, 0.6)],
    "nose": [(-0.35, -0.1, 0.35, 1.0)],
}
# Areas that lie below the upper face: the eyes and the upper face already leave them out, but
# a close-up of them may have no eyes at all.
LOWER_FACE = {"lips", "perioral", "marionette", "chin", "jawline", "neck", "nasolabial"}
# A close-up: the eyes span this share of the photo's width or more.
CLOSE_UP_SHARE = 0.4


@dataclass(frozen=True)
class FaceProposal:
    """What the faces say: a transform (or none), refusals that withhold it, and warnings."""

    found: bool
    transform: Transform
    method: str  # "features", "eyes+ecc", "eyes" or "" when none
    refusals: tuple[Warning, ...]
    warnings: tuple[Warning, ...]
    measures: dict

    def as_dict(self) -> dict:
        return {
            "found": self.found,
            "method": self.method,
            "refusals": [r.as_dict() for r in self.refusals],
            "face_warnings": [w.as_dict() for w in self.warnings],
            "measures": self.measures,
            "inliers": int(self.measures.get("inliers", 0)),
            "matches": int(self.measures.get("matches", 0)),
            **self.transform.as_dict(),
        }

    def matrix(self) -> list[list[float]] | None:
        if not self.found:
            return None
        return [[round(float(v), 6) for v in row] for row in self.transform.matrix()]


def fit_long_side(before_size: tuple[int, int], after_size: tuple[int, int]) -> Transform:
    """No alignment: the after at the before's long side (as the same camera would take it),
    centred."""
    (bw, bh), (aw, ah) = before_size, after_size
    s = max(bw, bh) / max(aw, ah)
    return Transform(scale=s, rotation=0.0, tx=(bw - aw * s) / 2, ty=(bh - ah * s) / 2)


def eyes_transform(before_eyes, after_eyes) -> Transform:
    """The similarity that puts the after's two eye centres on the before's."""
    (bl, br), (al, ar) = np.asarray(before_eyes, float), np.asarray(after_eyes, float)
    vb, va = br - bl, ar - al
    scale = float(np.hypot(*vb) / np.hypot(*va))
    angle = math.atan2(vb[1], vb[0]) - math.atan2(va[1], va[0])
    a, b = scale * math.cos(angle), scale * math.sin(angle)
    tx = bl[0] - (a * al[0] - b * al[1])
    ty = bl[1] - (b * al[0] + a * al[1])
    return Transform(scale=scale, rotation=math.degrees(angle), tx=float(tx), ty=float(ty))


def _apply(t: Transform, points) -> np.ndarray:
    m = t.matrix()
    pts = np.asarray(points, float)
    return pts @ m[:, :2].T + m[:, 2]


def eye_error(t: Transform, before_eyes, after_eyes) -> float:
    """How far ``t`` puts the after's eyes from the before's, as a share of the before's
    inter-ocular distance (the larger of the two eyes)."""
    placed = _apply(t, after_eyes)
    target = np.asarray(before_eyes, float)
    iod = float(np.hypot(*(target[1] - target[0])))
    return float(np.max(np.hypot(*(placed - target).T)) / iod)


def _upper_face(before_eyes, iod_px: float):
    """The frame in which the upper face is compared: a map from before-pixels to a small
    image where the eyes are ``iod_px`` apart, level, and the region's size."""
    bl, br = np.asarray(before_eyes, float)
    iod = float(np.hypot(*(br - bl)))
    angle = math.atan2(br[1] - bl[1], br[0] - bl[0])
    k = iod_px / iod
    width, height = int(2.6 * iod_px), int(2.4 * iod_px)
    # Eye midpoint to (width/2, 1.3·iod_px): brows and forehead above, the nose below.
    centre = (bl + br) / 2
    c, s = math.cos(-angle) * k, math.sin(-angle) * k
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = np.array([width / 2, 1.3 * iod_px]) - m[:, :2] @ centre
    return m, (width, height)


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _compose(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """m1 after m2 (2x3 each)."""
    a = np.vstack([m1, [0, 0, 1]]) @ np.vstack([m2, [0, 0, 1]])
    return a[:2]


def _nearest_similarity(m: np.ndarray) -> np.ndarray:
    a = (m[0, 0] + m[1, 1]) / 2
    b = (m[1, 0] - m[0, 1]) / 2
    return np.array([[a, -b, m[0, 2]], [b, a, m[1, 2]]])


def _zone_mask(size: tuple[int, int], iod_px: float, area: str | None) -> np.ndarray | None:
    zones = TREATED_ZONES.get(area or "")
    if not zones:
        return None
    width, height = size
    mask = np.full((height, width), 255, np.uint8)
    for x0, y0, x1, y1 in zones:
        p0 = (int(width / 2 + x0 * iod_px), int(1.3 * iod_px + y0 * iod_px))
        p1 = (int(width / 2 + x1 * iod_px), int(1.3 * iod_px + y1 * iod_px))
        cv2.rectangle(mask, p0, p1, 0, -1)
    return mask


def _upper_face_pair(before, after, before_eyes, t: Transform):
    frame, size = _upper_face(before_eyes, ECC_IOD_PX)
    template = cv2.warpAffine(_gray(before), frame, size, flags=cv2.INTER_AREA)
    moving = cv2.warpAffine(_gray(after), _compose(frame, t.matrix()), size, flags=cv2.INTER_LINEAR)
    return frame, size, template, moving


def refine_ecc(
    before: np.ndarray,
    after: np.ndarray,
    before_eyes,
    after_eyes,
    t: Transform,
    *,
    area: str | None = None,
) -> tuple[Transform, float, bool]:
    """``t`` refined by ECC on the upper face; kept only inside the trust region. Returns the
    transform, ECC's correlation and whether the refinement was taken."""
    frame, size, template, moving = _upper_face_pair(before, after, before_eyes, t)
    template = cv2.GaussianBlur(template, (0, 0), 1.5)
    moving = cv2.GaussianBlur(moving, (0, 0), 1.5)
    start = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
    mask = _zone_mask(size, ECC_IOD_PX, area)
    try:
        correlation, warp = cv2.findTransformECC(
            template,
            moving,
            start,
            cv2.MOTION_AFFINE,
            criteria,
            mask,  # type: ignore[arg-type]  # None is "no mask" to OpenCV
            3,
        )
    except cv2.error:
        return t, 0.0, False
    # ECC: template(x) ≈ moving(W·x); so a before-pixel p meets the after-pixel whose
    # upper-face image is at W·F·p: the after→before map is F⁻¹·W⁻¹·F·t.
    w = _nearest_similarity(np.asarray(warp, np.float64))
    inverse_frame = cv2.invertAffineTransform(frame)
    refined = _compose(
        inverse_frame, _compose(cv2.invertAffineTransform(w), _compose(frame, t.matrix()))
    )
    candidate = Transform.from_matrix(refined)
    if (
        correlation < ECC_MIN_CORRELATION
        or eye_error(candidate, before_eyes, after_eyes) > EYE_TRUST
    ):
        return t, float(correlation), False
    return candidate, float(correlation), True


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator else 0.0


def mirror_scores(before, after, before_eyes, after_eyes) -> tuple[float, float]:
    """How well the upper face (with hair and brows) matches as taken and mirrored, each laid
    on the before by its eyes. A face is nearly symmetric, its details are not (the parting,
    a mole, the light): the mirrored after of the same shot matches far better flipped."""
    width = after.shape[1]
    direct_t = eyes_transform(before_eyes, after_eyes)
    flipped = cv2.flip(after, 1)
    (al, ar) = np.asarray(after_eyes, float)
    flipped_eyes = [(width - 1 - ar[0], ar[1]), (width - 1 - al[0], al[1])]
    flipped_t = eyes_transform(before_eyes, flipped_eyes)
    scores = []
    for image, t in ((after, direct_t), (flipped, flipped_t)):
        _, _, template, moving = _upper_face_pair(before, image, before_eyes, t)
        scores.append(
            _correlation(cv2.GaussianBlur(template, (0, 0), 2), cv2.GaussianBlur(moving, (0, 0), 2))
        )
    return scores[0], scores[1]


def skin_mask(image: np.ndarray, eyes, nose) -> np.ndarray:
    """Cheeks, nose and forehead of the face, without the eyes, and only where the colour is
    skin's (YCrCb): where light and colour are measured, never the backdrop or the hair."""
    (lx, ly), (rx, ry) = eyes
    iod = math.hypot(rx - lx, ry - ly)
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    angle = math.degrees(math.atan2(ry - ly, rx - lx))
    mask = np.zeros(image.shape[:2], np.uint8)
    centre = (int(cx), int(cy + 0.25 * iod))
    cv2.ellipse(mask, centre, (int(1.0 * iod), int(1.15 * iod)), angle, 0, 360, 255, -1)
    for ex, ey in eyes:
        axes = (int(0.32 * iod), int(0.2 * iod))
        cv2.ellipse(mask, (int(ex), int(ey)), axes, angle, 0, 360, 0, -1)
    # Nothing below the nose: the mouth and lips are what many treatments change.
    nose_y = int(nose[1] + 0.1 * iod)
    mask[max(0, nose_y) :] = 0
    x0, y0, x1, y1 = _extent(mask)
    if x1 > x0 and y1 > y0:
        ycrcb = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2YCrCb)
        skin = cv2.inRange(ycrcb, (20, 133, 77), (250, 180, 135))
        mask[y0:y1, x0:x1] = cv2.bitwise_and(mask[y0:y1, x0:x1], skin)
    return mask


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(mask)
    return x, y, x + w, y + h


def _lab(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(float)


def light_on_skin(
    before: np.ndarray, placed_after: np.ndarray, mask: np.ndarray
) -> dict[str, float] | None:
    """Mean lightness and colour (CIELAB) of each on the skin of the before's face (only the
    face's box is converted: the rest of the frame never counts)."""
    x0, y0, x1, y1 = _extent(mask)
    if x1 <= x0 or y1 <= y0:
        return None
    region_b, region_a = before[y0:y1, x0:x1], placed_after[y0:y1, x0:x1]
    covered = cv2.bitwise_and(mask[y0:y1, x0:x1], (region_a.max(axis=2) > 0).astype(np.uint8) * 255)
    if np.count_nonzero(covered) < 200:
        return None
    # Only the skin's pixels are converted, as one column.
    chosen = covered > 0
    lab_b = _lab(region_b[chosen])
    lab_a = _lab(region_a[chosen])
    mb, ma = lab_b.mean(axis=0), lab_a.mean(axis=0)
    return {
        "lightness_before": float(mb[0] * 100 / 255),
        "lightness_after": float(ma[0] * 100 / 255),
        "a_shift": float(ma[1] - mb[1]),
        "b_shift": float(ma[2] - mb[2]),
        "skin_pixels": int(np.count_nonzero(covered)),
    }


def face_proposal(
    before: np.ndarray,
    after: np.ndarray,
    before_marks: faces.Landmarks,
    after_marks: faces.Landmarks,
    *,
    area: str | None = None,
    features: bool = True,
) -> FaceProposal:
    """The after laid on the before by the face: refused ("no_face", "not_same_person") when
    the faces do not allow it, else from the eyes, refined, with the warnings the faces give
    (view from the head pose, mirrored). Landmarks are in each image's own pixels."""
    before_size, after_size = _size_of(before), _size_of(after)
    fallback = fit_long_side(before_size, after_size)
    subject_b, subject_a = before_marks.subject, after_marks.subject
    missing = [w for w, s in (("before", subject_b), ("after", subject_a)) if s is None]
    if subject_b is None or subject_a is None:
        which = " and ".join(missing)
        return FaceProposal(
            False,
            fallback,
            "",
            (
                Warning(
                    "no_face",
                    f"No face found in the {which}: no alignment is proposed; line the two up "
                    "by hand and check them.",
                ),
            ),
            (),
            {},
        )
    measures: dict = {}
    refusals: list[Warning] = []
    if subject_b.descriptor and subject_a.descriptor:
        distance = faces.descriptor_distance(subject_b, subject_a)
        measures["face_distance"] = round(distance, 3)
        if distance > SAME_PERSON_DISTANCE:
            refusals.append(
                Warning(
                    "not_same_person",
                    "Not the same person: the faces in the before and the after differ "
                    f"(face distance {distance:.2f}, over {SAME_PERSON_DISTANCE}); no alignment "
                    "is proposed. Check that both photos are of this patient.",
                )
            )
    if refusals:
        return FaceProposal(False, fallback, "", tuple(refusals), (), measures)

    eyes_b, eyes_a = subject_b.eyes, subject_a.eyes
    transform = eyes_transform(eyes_b, eyes_a)
    method = "eyes"
    # Grey once: ECC, the mirror test and the feature fit all work on grey.
    before, after = _gray(before), _gray(after)
    refined, correlation, taken = refine_ecc(before, after, eyes_b, eyes_a, transform, area=area)
    measures["ecc_correlation"] = round(correlation, 3)
    if taken:
        transform, method = refined, "eyes+ecc"
    if features:
        orb = propose(before, after, max_side=FEATURES_MAX_SIDE, features=FEATURES_COUNT)
        measures["inliers"], measures["matches"] = orb.inliers, orb.matches
        if orb.found and eye_error(orb.transform, eyes_b, eyes_a) <= FEATURES_AGREE:
            transform, method = orb.transform, "features"
    measures["eye_error"] = round(eye_error(transform, eyes_b, eyes_a), 4)

    warnings: list[Warning] = []
    yaw = subject_a.yaw - subject_b.yaw
    pitch = subject_a.pitch - subject_b.pitch
    measures["yaw_difference"], measures["pitch_difference"] = round(yaw, 1), round(pitch, 1)
    if abs(yaw) > YAW_WARNING_DEG or abs(pitch) > PITCH_WARNING_DEG:
        parts = []
        if abs(yaw) > YAW_WARNING_DEG:
            parts.append(
                f"turned about {abs(yaw):.0f}° {'to its right' if yaw > 0 else 'to its left'}"
            )
        if abs(pitch) > PITCH_WARNING_DEG:
            parts.append(f"tilted about {abs(pitch):.0f}° {'up' if pitch > 0 else 'down'}")
        warnings.append(
            Warning(
                "view",
                f"Different view: in the after the head is {' and '.join(parts)} compared with "
                "the before (measured from the face, whatever the labels say); shapes and "
                "volumes are not comparable.",
            )
        )
    direct, flipped = mirror_scores(before, after, eyes_b, eyes_a)
    measures["mirror_scores"] = [round(direct, 3), round(flipped, 3)]
    if flipped > MIRROR_MIN_CORRELATION and flipped > direct + MIRROR_MARGIN:
        warnings.append(
            Warning(
                "mirrored",
                "Mirrored: the after looks like a mirror image of the before (a front camera "
                "or an editing app flips left and right); left and right sides are swapped.",
            )
        )
    if area and subject_b.interocular > CLOSE_UP_SHARE * before_size[0]:
        warnings.append(
            Warning(
                "treated_area",
                f"A close-up of the treated area ({area.replace('_', ' ')}): the fit uses the "
                "eyes and the untreated upper face, but in a close-up a change of the treated "
                "area can still be absorbed by the alignment; check it by eye.",
            )
        )
    return FaceProposal(True, transform, method, (), tuple(warnings), measures)


def _size_of(image: np.ndarray) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


def relative_scale(transform: Transform, before_size, after_size) -> float:
    """The transform's scale at equal long sides: how much nearer or further the after was
    taken, whatever the framing (a landscape shot is not "nearer")."""
    return transform.scale * max(after_size) / max(before_size)


def checks(
    before: np.ndarray,
    after: np.ndarray,
    before_marks: faces.Landmarks,
    after_marks: faces.Landmarks,
    *,
    area: str | None = None,
    transform: Transform | None = None,
) -> tuple[FaceProposal, list[Warning], dict]:
    """The proposal and every warning for a pair of images (the comparison and the
    ``compare_photos`` command share it): the faces' refusals and warnings, scale and rotation
    of ``transform`` (the proposal's unless given), light and colour on the skin."""
    proposal = face_proposal(before, after, before_marks, after_marks, area=area)
    used = transform or proposal.transform
    warnings = list(proposal.refusals) + list(proposal.warnings)
    if proposal.found or transform is not None:
        warnings += geometry_warnings(True, used, _size_of(before), _size_of(after))
    light: dict = {}
    subject = before_marks.subject
    if subject is not None and (proposal.found or transform is not None):
        placed = warp(before, after, used)
        mask = skin_mask(before, subject.eyes, subject.points[4])
        light = light_on_skin(before, placed, mask) or {}
        if light:
            warnings += light_warnings(light)
    return proposal, warnings, light


def front_camera_warning(before_camera: str, after_camera: str) -> Warning | None:
    """A mirror hint from the photos' own metadata: one taken with the front camera (phones
    name it in the lens model) and the other not; a front camera often saves a mirror image."""
    front_b, front_a = ("front" in before_camera.lower()), ("front" in after_camera.lower())
    if front_b == front_a:
        return None
    which = "after" if front_a else "before"
    return Warning(
        "mirrored",
        f"Mirrored: the {which} was taken with the front camera and the other was not; a "
        "front camera often saves a mirror image, so left and right may be swapped.",
    )
