"""Synthetic faces for the comparison tests: skin-like texture (as real skin has pores, fine
lines and freckles) on a face shape, and the same face moved, scaled and turned."""

from __future__ import annotations

import math

import cv2
import numpy as np


def textured_face(width: int = 1200, height: int = 1600, seed: int = 7) -> np.ndarray:
    """A BGR picture of a face: an oval of mottled skin with eyes, brows, a mouth and
    freckles, on a plain backdrop."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (200, 205, 210), np.uint8)
    noise = rng.normal(0, 1, (height // 8, width // 8)).astype(np.float32)
    mottle = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    pores = rng.normal(0, 1, (height, width)).astype(np.float32)
    pores = cv2.GaussianBlur(pores, (0, 0), 1.2)
    skin = np.stack(
        [
            120 + 14 * mottle + 10 * pores,
            150 + 14 * mottle + 10 * pores,
            200 + 12 * mottle + 10 * pores,
        ],
        axis=-1,
    ).clip(0, 255)
    mask = np.zeros((height, width), np.uint8)
    centre = (width // 2, height // 2)
    cv2.ellipse(mask, centre, (int(width * 0.36), int(height * 0.42)), 0, 0, 360, 255, -1)
    image[mask > 0] = skin[mask > 0].astype(np.uint8)
    for _ in range(400):
        x, y = int(rng.uniform(0.2, 0.8) * width), int(rng.uniform(0.15, 0.85) * height)
        if mask[y, x]:
            r = int(rng.uniform(2, 7))
            cv2.circle(image, (x, y), r, (70, 95, 140), -1, cv2.LINE_AA)
    for side in (-1, 1):
        ex = centre[0] + side * int(width * 0.15)
        ey = int(height * 0.42)
        cv2.ellipse(image, (ex, ey), (70, 32), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(image, (ex, ey), 24, (60, 40, 30), -1, cv2.LINE_AA)
        cv2.line(image, (ex - 80, ey - 70), (ex + 80, ey - 85 - side * 5), (40, 50, 70), 12)
    cv2.ellipse(image, (centre[0], int(height * 0.7)), (130, 40), 0, 0, 180, (80, 80, 170), 14)
    for i in range(6):
        y = int(height * 0.22) + i * 22
        cv2.line(image, (centre[0] - 160, y), (centre[0] + 160, y + 6), (100, 125, 175), 2)
    return image


def moved(image: np.ndarray, *, scale: float, degrees: float, shift: tuple[float, float]):
    """The picture as the camera would see it moved: scaled and turned about its centre, then
    shifted; returns the new picture and the true transform from it back onto the original
    (what the alignment should find: after-pixels to before-pixels)."""
    h, w = image.shape[:2]
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
    forward[:, 2] += shift
    out = cv2.warpAffine(image, forward, (w, h), borderValue=(200, 205, 210))
    full = np.vstack([forward, [0, 0, 1]])
    back = np.linalg.inv(full)[:2]
    a, b = back[0, 0], back[1, 0]
    return out, {
        "scale": math.hypot(a, b),
        "rotation": math.degrees(math.atan2(b, a)),
        "tx": back[0, 2],
        "ty": back[1, 2],
    }


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()
