"""Real face photographs for the comparison tests, rendered as phone photos through the
project's own upload step, and an independent measure of where the eyes are.

Where the photographs come from (each file is byte for byte the one in the package; the
sha256 is checked below):
- ``obama.jpg``, ``obama2.jpg``, ``obama3.jpg``, ``biden.jpg``: the test images of the PyPI
  package ``face_recognition`` 1.3.0 (its sdist, ``tests/test_images/``; the package is MIT
  licensed). They are official White House photographs (their EXIF names the sittings), works
  of the United States federal government and so in the public domain. Three sessions of one
  person: an official portrait in the Oval Office (December 2012), an address to Congress
  (September 2009), a group photograph in the Blue Room (2010); ``biden.jpg`` is another man
  from that same Blue Room photograph (two people, one room, one backdrop).

The eyes are measured, for judging an alignment, by a detector that shares nothing with the
one under test: OpenCV's Haar cascades (shipped in the opencv-python wheel), not dlib.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from photos import imaging

FOLDER = Path(__file__).parent / "photographs"
SHA256 = {
    "obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
}
SESSIONS = ("obama.jpg", "obama2.jpg", "obama3.jpg")


def source(name: str) -> np.ndarray:
    data = (FOLDER / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name], f"{name} is not the package's file"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _cascade(name: str) -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))


def haar_face(image: np.ndarray, *, central: bool = False) -> tuple[int, int, int, int]:
    """The largest face by OpenCV's Haar cascade (or, ``central``, the one nearest the middle
    of the frame, where a phone photo has its subject): x, y, w, h."""
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    found = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, 1.1, 5, minSize=(40, 40)
    )
    assert len(found), "no face for the framing"
    height, width = gray.shape

    def rank(r) -> float:
        if central:
            return math.hypot(r[0] + r[2] / 2 - width / 2, r[1] + r[3] / 2 - height / 2)
        return -float(r[2] * r[3])

    return tuple(int(v) for v in min(found, key=rank))  # type: ignore[return-value]


def haar_eyes(image: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Both eye centres (image-left first): the centres of OpenCV's Haar eye boxes, the eye
    region between its corners (not the iris: a glance aside moves the iris by a sixth of
    the inter-ocular distance, measured on obama2.jpg); None when not both found."""
    x, y, w, h = haar_face(image, central=True)
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    top = gray[y : y + int(h * 0.6), x : x + w]
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(
        top, 1.05, 3, minSize=(w // 10, w // 10), maxSize=(w // 3, w // 3)
    )
    centres = []
    for expected in (0.3, 0.7):
        side = [e for e in eyes if (e[0] + e[2] / 2 < w / 2) == (expected < 0.5)]
        if not side:
            return None
        ex, ey, ew, eh = min(
            side,
            key=lambda e: math.hypot(e[0] + e[2] / 2 - expected * w, e[1] + e[3] / 2 - 0.38 * h),
        )
        centres.append((x + ex + ew / 2, y + ey + eh / 2))
    return centres[0], centres[1]


@dataclass(frozen=True)
class Framing:
    """How a phone frames the face: the face's width as a share of the photo's, turned by
    ``roll`` degrees, shifted by a share of the width, portrait or landscape."""

    face_share: float = 0.33
    roll: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    landscape: bool = False


PORTRAIT = Framing()


def phone_photo(image: np.ndarray, framing: Framing = PORTRAIT, *, long_side: int = 2000) -> bytes:
    """The photograph as a phone would take it of the face (a 3:4 frame), as the JPEG a phone
    uploads. Beyond the source's edges its border pixels are repeated (never reflected: a
    reflection would put a mirrored copy of the face in the frame)."""
    x, y, w, h = haar_face(image)
    out_w, out_h = (
        (long_side, long_side * 3 // 4)
        if framing.landscape
        else (
            long_side * 3 // 4,
            long_side,
        )
    )
    scale = (
        framing.face_share * out_w / w
        if not framing.landscape
        else (framing.face_share * (long_side * 3 // 4) / w)
    )
    cx, cy = x + w / 2, y + h * 0.55
    m = cv2.getRotationMatrix2D((cx, cy), framing.roll, scale)
    m[0, 2] += out_w / 2 - cx + framing.shift[0] * out_w
    m[1, 2] += out_h * 0.42 - cy + framing.shift[1] * out_h
    photo = cv2.warpAffine(
        image, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    ok, data = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


def uploaded(data: bytes) -> np.ndarray:
    """What the comparison sees of an uploaded photo: the project's display rendition."""
    display = imaging.make_renditions(data).display
    return cv2.imdecode(np.frombuffer(display, np.uint8), cv2.IMREAD_COLOR)


def mirrored(image: np.ndarray) -> np.ndarray:
    return cv2.flip(image, 1)


# Nine before/after pairs of one person from different sessions: every ordered pair of the
# three sessions, and three more with the after framed differently (nearer and turned, further
# and turned the other way, landscape).
SESSION_PAIRS: list[tuple[str, Framing, str, Framing]] = [
    *((a, PORTRAIT, b, PORTRAIT) for a in SESSIONS for b in SESSIONS if a != b),
    ("obama.jpg", PORTRAIT, "obama2.jpg", Framing(face_share=0.4, roll=5, shift=(0.04, -0.03))),
    ("obama2.jpg", PORTRAIT, "obama3.jpg", Framing(face_share=0.28, roll=-4, shift=(-0.05, 0.02))),
    ("obama3.jpg", PORTRAIT, "obama.jpg", Framing(landscape=True)),
]


def eye_error(matrix: np.ndarray, before_eyes, after_eyes) -> float:
    """The larger distance between an eye of the before and the same eye of the after laid
    on it by ``matrix``, as a share of the before's inter-ocular distance."""
    placed = np.asarray(after_eyes, float) @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]
    target = np.asarray(before_eyes, float)
    iod = math.dist(target[0], target[1])
    return float(np.max(np.hypot(*(placed - target).T)) / iod)
