"""Faces in a photo, pure (dlib, numpy and OpenCV; no Django), like ``photos.imaging``.

For each face: its box, dlib's five landmarks (the two corners of each eye and the base of
the nose), the eye centres, the head's pose estimated from those five points, and dlib's
128-number face descriptor. The descriptor exists to tell whether two photos show the same
person; it is kept only inside the photo's encrypted landmarks object, never in clear.

Models: dlib's frontal face detector (HOG, built into dlib) and two model files shipped by the
``face_recognition_models`` package: ``shape_predictor_5_face_landmarks.dat`` and
``dlib_face_recognition_resnet_model_v1.dat``, both released by their author (Davis King) into
the public domain / CC0. The package also ships dlib's 68-point model, whose training data
(iBUG 300-W) excludes commercial use: it is never loaded here.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Faces are found on a copy whose long side is at most this (HOG's cost grows with pixels);
# the landmarks and descriptor are then taken on the full image.
DETECT_MAX_SIDE = 1000
# A face smaller than this share of the photo's short side is a bystander, not the subject.
MIN_FACE_SHARE = 0.04
LANDMARKS_VERSION = 1

SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


def decode(data: bytes) -> np.ndarray:
    """A JPEG (or PNG) as a BGR array."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable image")
    return image


class ModelsMissing(RuntimeError):
    """The face models are not installed (the ``face_recognition_models`` package)."""


def models_dir() -> Path:
    # The package's __init__ imports pkg_resources, gone from recent setuptools: locate its
    # folder without running it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsMissing("the face_recognition_models package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@functools.lru_cache(maxsize=1)
def _models():
    import dlib  # type: ignore[import-untyped]  # compiled, no stubs; loaded on first use

    folder = models_dir()
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(folder / SHAPE_MODEL)),
        dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_MODEL)),
        dlib,
    )


@dataclass(frozen=True)
class Face:
    """One face: coordinates in the photo's pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    points: tuple[tuple[float, float], ...]  # dlib's five, image-left eye first
    descriptor: tuple[float, ...]
    yaw: float  # degrees, positive: the face turned towards the image's right
    pitch: float  # degrees, positive: the chin down
    roll: float  # degrees

    @property
    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The two eye centres, image-left first."""
        p = self.points
        left = ((p[0][0] + p[1][0]) / 2, (p[0][1] + p[1][1]) / 2)
        right = ((p[2][0] + p[3][0]) / 2, (p[2][1] + p[3][1]) / 2)
        return left, right

    @property
    def interocular(self) -> float:
        (lx, ly), (rx, ry) = self.eyes
        return math.hypot(rx - lx, ry - ly)

    def as_dict(self) -> dict:
        return {
            "box": [round(v, 2) for v in self.box],
            "points": [[round(x, 2), round(y, 2)] for x, y in self.points],
            "descriptor": [round(v, 6) for v in self.descriptor],
            "yaw": round(self.yaw, 2),
            "pitch": round(self.pitch, 2),
            "roll": round(self.roll, 2),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Face:
        return cls(
            box=tuple(float(v) for v in data["box"]),  # type: ignore[arg-type]
            points=tuple((float(x), float(y)) for x, y in data["points"]),
            descriptor=tuple(float(v) for v in data["descriptor"]),
            yaw=float(data["yaw"]),
            pitch=float(data["pitch"]),
            roll=float(data["roll"]),
        )


@dataclass(frozen=True)
class Landmarks:
    """What one photo's faces are, as kept (encrypted) with the photo."""

    size: tuple[int, int]  # width, height of the image they were found on
    faces: tuple[Face, ...]  # the subject first (the largest face)

    @property
    def subject(self) -> Face | None:
        return self.faces[0] if self.faces else None

    def as_dict(self) -> dict:
        return {
            "version": LANDMARKS_VERSION,
            "size": list(self.size),
            "faces": [f.as_dict() for f in self.faces],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Landmarks:
        return cls(
            size=(int(data["size"][0]), int(data["size"][1])),
            faces=tuple(Face.from_dict(f) for f in data["faces"]),
        )

    def scaled(self, factor: float) -> Landmarks:
        """The same faces for the image resized by ``factor`` (pose and descriptor unchanged)."""
        faces = tuple(
            Face(
                box=tuple(v * factor for v in f.box),  # type: ignore[arg-type]
                points=tuple((x * factor, y * factor) for x, y in f.points),
                descriptor=f.descriptor,
                yaw=f.yaw,
                pitch=f.pitch,
                roll=f.roll,
            )
            for f in self.faces
        )
        return Landmarks((round(self.size[0] * factor), round(self.size[1] * factor)), faces)


# A generic head, in inter-ocular distances: the base of the nose lies this far below the eye
# line and this far in front of the eyes' plane (adult averages, about 48 mm and 18 mm for
# 62 mm between the eyes).
NOSE_DROP = 0.78
NOSE_DEPTH = 0.3


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll (degrees) of a head from its five points: in the frame of the eye
    line (so the camera's roll does not count), the base of the nose moves sideways as the
    head turns and up or down as it nods, by the generic head's depths. Rough in absolute terms
    (heads differ), good at telling two photos of one head apart by ten degrees."""
    left = (points[0] + points[1]) / 2
    right = (points[2] + points[3]) / 2
    nose = points[4]
    axis = right - left
    iod = float(np.hypot(*axis))
    if iod == 0:
        return 0.0, 0.0, 0.0
    roll = math.degrees(math.atan2(axis[1], axis[0]))
    unit = axis / iod
    normal = np.array([-unit[1], unit[0]])  # pointing down the face
    offset = nose - (left + right) / 2
    across = float(offset @ unit) / iod
    down = float(offset @ normal) / iod
    # Turned by ψ: the nose base moves by depth·sinψ while the eyes close up by cosψ.
    yaw = math.degrees(math.atan2(across, NOSE_DEPTH))
    # Nodding by φ: down = R·cos(φ − α), the nose's drop and depth as one radius.
    radius = math.hypot(NOSE_DROP, NOSE_DEPTH)
    alpha = math.atan2(NOSE_DEPTH, NOSE_DROP)
    pitch = math.degrees(
        alpha - math.acos(max(-1.0, min(1.0, down * math.cos(math.radians(yaw)) / radius)))
    )
    return yaw, pitch, roll


def _ordered(points: np.ndarray) -> np.ndarray:
    """dlib's five as image-left eye (outer, inner), image-right eye (inner, outer), nose."""
    eye_a, eye_b, nose = points[0:2], points[2:4], points[4:5]
    if eye_a[:, 0].mean() > eye_b[:, 0].mean():
        eye_a, eye_b = eye_b, eye_a
    left = eye_a[np.argsort(eye_a[:, 0])]  # outer (further left) first
    right = eye_b[np.argsort(eye_b[:, 0])]  # inner first
    return np.vstack([left, right, nose])


def find(image: np.ndarray, *, descriptors: bool = True) -> Landmarks:
    """The faces of a BGR photo, the largest first; none is an empty tuple, not an error."""
    detector, predictor, recogniser, dlib = _models()
    height, width = image.shape[:2]
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    factor = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = (
        cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        if factor < 1.0
        else rgb
    )
    found = list(detector(small, 0))
    if not found:
        # Small faces (a full-length shot): once more at twice the size.
        found = list(detector(small, 1))
    faces = []
    for rect in found:
        box = dlib.rectangle(
            int(rect.left() / factor),
            int(rect.top() / factor),
            int(rect.right() / factor),
            int(rect.bottom() / factor),
        )
        if box.width() < MIN_FACE_SHARE * min(width, height):
            continue
        shape = predictor(rgb, box)
        raw = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], np.float64)
        points = _ordered(raw)
        descriptor: tuple[float, ...] = ()
        if descriptors:
            descriptor = tuple(float(v) for v in recogniser.compute_face_descriptor(rgb, shape))
        yaw, pitch, roll = head_pose(points)
        faces.append(
            Face(
                box=(box.left(), box.top(), box.right(), box.bottom()),
                points=tuple((float(x), float(y)) for x, y in points),
                descriptor=descriptor,
                yaw=yaw,
                pitch=pitch,
                roll=roll,
            )
        )
    faces.sort(key=lambda f: -(f.box[2] - f.box[0]))
    return Landmarks((width, height), tuple(faces))


def descriptor_distance(a: Face, b: Face) -> float:
    """Euclidean distance of two faces' descriptors (dlib's scale: under 0.6 is one person)."""
    return float(np.linalg.norm(np.asarray(a.descriptor) - np.asarray(b.descriptor)))
