"""The alignment a reviewer can trust: recovered from the images on synthetic pairs, refused
for unrelated ones, and the warnings that say what differs and by how much."""

import cv2
import numpy as np
import pytest

from comparisons import alignment
from tests.comparisons.images import moved, textured_face


@pytest.fixture(scope="module")
def face():
    return textured_face()


def test_a_shifted_scaled_and_turned_face_is_lined_up_within_the_tolerances(face):
    # The after is taken further away (the face 1/1.2 the size), turned 8 degrees and shifted.
    after, truth = moved(face, scale=1 / 1.2, degrees=8, shift=(45, -30))
    proposal = alignment.propose(face, after)
    t = proposal.transform
    width = face.shape[1]
    assert proposal.found
    assert abs(t.scale - truth["scale"]) / truth["scale"] < 0.02
    assert abs(t.rotation - truth["rotation"]) < 1.0
    assert abs(t.tx - truth["tx"]) < 0.02 * width and abs(t.ty - truth["ty"]) < 0.02 * width
    assert abs(t.scale - 1.2) < 0.024 and abs(abs(t.rotation) - 8) < 1


def test_the_other_way_round_too(face):
    after, truth = moved(face, scale=1.2, degrees=-8, shift=(-40, 25))
    t = alignment.propose(face, after).transform
    assert abs(t.scale - truth["scale"]) / truth["scale"] < 0.02
    assert abs(t.rotation - truth["rotation"]) < 1.0
    assert abs(t.tx - truth["tx"]) < 0.02 * face.shape[1]


def test_an_unrelated_pair_yields_no_alignment_not_a_wild_transform(face):
    rng = np.random.default_rng(5)
    other = np.full_like(face, 180)
    for _ in range(300):
        centre = (int(rng.integers(0, 1200)), int(rng.integers(0, 1600)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(other, centre, int(rng.integers(5, 60)), colour, -1)
    proposal = alignment.propose(face, other)
    assert not proposal.found
    # The after is then shown at the before's height, unturned.
    assert proposal.transform == alignment.Transform.fit_height((1200, 1600), (1200, 1600))
    (warning,) = alignment.geometry_warnings(
        False, proposal.transform, (1200, 1600), (1200, 1600), (proposal.inliers, 0)
    )
    assert warning.code == "no_alignment" and "No alignment found" in warning.message


def test_plain_noise_has_no_alignment(face):
    noise = np.random.default_rng(1).integers(0, 255, face.shape, dtype=np.uint8)
    assert not alignment.propose(face, noise).found


def test_reduced_copies_are_what_makes_it_fast_not_less_exact(face):
    after, truth = moved(face, scale=1 / 1.2, degrees=8, shift=(45, -30))
    full = alignment.propose(face, after, max_side=None).transform
    reduced = alignment.propose(face, after).transform
    assert abs(full.scale - reduced.scale) < 0.01 and abs(full.rotation - reduced.rotation) < 0.5


def test_scale_and_rotation_warnings_say_by_how_much():
    t = alignment.Transform(scale=1.2, rotation=8.0, tx=0, ty=0)
    warnings = {
        w.code: w.message for w in alignment.geometry_warnings(True, t, (1200, 1600), (1200, 1600))
    }
    assert "1.20×" in warnings["scale"] and "20 %" in warnings["scale"]
    assert "8.0°" in warnings["rotation"]
    small = alignment.Transform(scale=1.05, rotation=2.0, tx=0, ty=0)
    assert alignment.geometry_warnings(True, small, (1200, 1600), (1200, 1600)) == []


def test_scale_is_judged_at_equal_height_so_resolution_does_not_count():
    # A 800-px-high after scaled 2x onto a 1600-px before is the same size on the face.
    t = alignment.Transform(scale=2.0, rotation=0, tx=0, ty=0)
    assert alignment.geometry_warnings(True, t, (1200, 1600), (600, 800)) == []


def test_brightness_and_white_balance_are_measured_on_the_overlap(face):
    darker = (face.astype(np.float32) * 0.75).astype(np.uint8)
    light = alignment.light_difference(face, darker, (0, 0, face.shape[1], face.shape[0]))
    (warning,) = alignment.light_warnings(light)
    assert warning.code == "brightness" and "darker" in warning.message and "%" in warning.message
    warm = face.copy()
    warm[..., 0] = (warm[..., 0] * 0.8).astype(np.uint8)  # less blue: yellower
    light = alignment.light_difference(face, warm, (0, 0, face.shape[1], face.shape[0]))
    codes = {w.code: w.message for w in alignment.light_warnings(light)}
    assert "white_balance" in codes and "warmer" in codes["white_balance"]
    same = alignment.light_difference(face, face, (0, 0, 100, 100))
    assert alignment.light_warnings(same) == []


def test_the_common_crop_holds_only_pixels_both_photos_have(face):
    after, _ = moved(face, scale=1 / 1.2, degrees=8, shift=(45, -30))
    t = alignment.propose(face, after).transform
    crop_b, crop_a, (x0, y0, x1, y1) = alignment.render_pair(face, after, t)
    assert crop_b.shape == crop_a.shape
    mask = alignment.coverage((1200, 1600), (1200, 1600), t)
    assert mask[y0:y1, x0:x1].min() == 255


def test_the_common_crop_is_as_large_as_the_overlap_allows():
    # The after shifted 60 px right of the before: the crop loses those 60 px and no more.
    shifted = alignment.Transform(scale=1, rotation=0, tx=60, ty=0)
    x0, y0, x1, y1 = alignment.crop_box((1200, 1600), (1200, 1600), shifted)
    assert 60 <= x0 <= 72 and x1 >= 1190 and y0 <= 8 and y1 >= 1592
    turned = alignment.Transform(scale=1.2, rotation=8, tx=-150, ty=-250)
    x0, y0, x1, y1 = alignment.crop_box((1200, 1600), (1200, 1600), turned)
    assert (x1 - x0) * (y1 - y0) > 0.6 * 1200 * 1600


def test_a_transform_with_no_overlap_is_refused(face):
    far = alignment.Transform(scale=1, rotation=0, tx=5000, ty=0)
    with pytest.raises(ValueError):
        alignment.render_pair(face, face, far)


def test_a_transform_from_the_page_must_be_finite():
    with pytest.raises(ValueError):
        alignment.Transform.from_dict({"scale": "nan", "rotation": 0, "tx": 0, "ty": 0})
    with pytest.raises(KeyError):
        alignment.Transform.from_dict({"scale": 1})


def test_the_common_crop_never_takes_in_a_pixel_from_outside_the_after():
    """The crop is searched on a quarter-size mask; rounding there must never let the warp's
    black border into the picture (a sliver in a corner was seen at 600 x 800)."""
    import random

    rng = random.Random(7)
    for _ in range(150):
        before = (rng.randint(300, 1600), rng.randint(300, 1600))
        after = (rng.randint(300, 1600), rng.randint(300, 1600))
        t = alignment.Transform(
            scale=rng.uniform(0.6, 1.6),
            rotation=rng.uniform(-15, 15),
            tx=rng.uniform(-150, 150),
            ty=rng.uniform(-150, 150),
        )
        box = alignment.crop_box(before, after, t)
        if box is None:
            continue
        white = np.full((after[1], after[0], 3), 255, np.uint8)
        placed = alignment.place_after(white, t, box)
        assert placed.min() == 255, (before, after, t, box)
