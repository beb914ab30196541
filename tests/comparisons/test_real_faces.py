"""The comparison's alignment and checks on real photographs of faces (tests/comparisons/
real_faces.py says where they come from and under which licence), rendered as phone photos
and passed through the project's own upload step."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from comparisons import alignment
from photos import faces
from tests.comparisons import real_faces as rf

pytestmark = pytest.mark.embedded  # no database: pure image work and a command without one

TOLERANCE = 0.05  # of the inter-ocular distance


@pytest.fixture(scope="module")
def photo():
    cache: dict = {}

    def render(name: str, framing: rf.Framing = rf.PORTRAIT):
        key = (name, framing)
        if key not in cache:
            image = rf.uploaded(rf.phone_photo(rf.source(name), framing))
            cache[key] = (image, faces.find(image))
        return cache[key]

    return render


@pytest.fixture(scope="module")
def session_results(photo):
    results = []
    for before_name, before_framing, after_name, after_framing in rf.SESSION_PAIRS:
        before, marks_b = photo(before_name, before_framing)
        after, marks_a = photo(after_name, after_framing)
        proposal, warnings, _light = alignment.checks(before, after, marks_b, marks_a)
        haar_b, haar_a = rf.haar_eyes(before), rf.haar_eyes(after)
        error = (
            rf.eye_error(proposal.transform.matrix(), haar_b, haar_a) if haar_b and haar_a else None
        )
        results.append((before_name, after_name, proposal, warnings, error))
    return results


def test_every_pair_of_one_person_from_different_sessions_is_aligned_not_refused(
    session_results,
):
    for before, after, proposal, _warnings, _error in session_results:
        assert proposal.found, (before, after, proposal.refusals)
        assert proposal.measures["face_distance"] < alignment.SAME_PERSON_DISTANCE
        # The proposal puts dlib's eyes on each other (ECC and features only inside the trust).
        assert proposal.measures["eye_error"] <= alignment.EYE_TRUST


def test_pairs_with_the_eyes_looking_at_the_camera_meet_an_independent_eye_detector(
    session_results,
):
    # obama2.jpg glances aside: the Haar eye boxes follow the iris, a sixth of the
    # inter-ocular distance from the eye's centre between its corners (see the next test).
    looking = [r for r in session_results if "obama2.jpg" not in r[:2]]
    assert len(looking) == 3
    for before, after, _proposal, _warnings, error in looking:
        assert error is not None and error <= TOLERANCE, (before, after, error)


@pytest.mark.xfail(
    strict=True,
    reason="issue 21's figure (8 of 9 within 5 % by an independent detector) is not met: "
    "3 of 9 (3.1 to 4.2 %); the six pairs with obama2.jpg are at 7.9 to 10.8 % by Haar eye "
    "boxes, which follow its irises, turned up and aside",
)
def test_eight_of_nine_session_pairs_within_five_percent_by_an_independent_detector(
    session_results,
):
    within = [r for r in session_results if r[4] is not None and r[4] <= TOLERANCE]
    assert len(within) >= 8


def _codes(warnings) -> set[str]:
    return {w.code for w in warnings}


def test_two_people_in_the_same_room_are_refused_as_not_the_same_person(photo):
    # obama3.jpg and biden.jpg are cut from one photograph: same room, same light, backdrop.
    for before, after in (("obama3.jpg", "biden.jpg"), ("biden.jpg", "obama.jpg")):
        b, mb = photo(before)
        a, ma = photo(after)
        proposal, warnings, _ = alignment.checks(b, a, mb, ma)
        assert not proposal.found and proposal.matrix() is None
        assert "not_same_person" in _codes(proposal.refusals)


def test_a_face_and_a_photo_without_one_is_refused_as_no_face(photo):
    face, marks = photo("obama.jpg")
    # The same room without anyone: the curtains and flags of the Oval Office photograph.
    backdrop = np.ascontiguousarray(rf.source("obama.jpg")[20:320, 0:240])
    backdrop = cv2.resize(backdrop, (1200, 1600))
    empty = faces.find(backdrop)
    assert empty.subject is None
    for b, mb, a, ma in ((face, marks, backdrop, empty), (backdrop, empty, face, marks)):
        proposal, _, _ = alignment.checks(b, a, mb, ma)
        assert not proposal.found
        assert _codes(proposal.refusals) == {"no_face"}


def test_a_mirrored_after_of_the_same_shot_is_flagged(photo):
    for name in rf.SESSIONS:
        for framing in (rf.PORTRAIT, rf.Framing(face_share=0.38, roll=3)):
            before, marks_b = photo(name)
            after, _ = photo(name, framing)
            flipped = rf.mirrored(after)
            proposal, warnings, _ = alignment.checks(before, flipped, marks_b, faces.find(flipped))
            assert "mirrored" in _codes(warnings), (name, framing, proposal.measures)


def test_no_pair_taken_as_it_was_is_called_mirrored(session_results):
    for before, after, proposal, warnings, _ in session_results:
        assert "mirrored" not in _codes(warnings), (before, after, proposal.measures)


def test_a_head_turned_between_visits_is_flagged_whatever_the_labels(session_results):
    # obama2.jpg: the head turned to the side (about 17 degrees by the landmarks).
    turned = [r for r in session_results if "obama2.jpg" in r[:2]]
    assert len(turned) == 6
    for before, after, proposal, warnings, _ in turned:
        assert "view" in _codes(warnings), (before, after, proposal.measures)


def test_the_same_shot_reframed_is_not_a_different_view(photo):
    before, marks_b = photo("obama.jpg")
    after, marks_a = photo("obama.jpg", rf.Framing(face_share=0.4, roll=6, shift=(0.05, 0)))
    proposal, warnings, _ = alignment.checks(before, after, marks_b, marks_a)
    assert "view" not in _codes(warnings), proposal.measures
    assert proposal.found


def test_a_landscape_shot_at_the_same_distance_has_no_scale_warning(photo):
    for name in rf.SESSIONS:
        before, marks_b = photo(name)
        after, marks_a = photo(name, rf.Framing(landscape=True))
        assert after.shape[1] > after.shape[0]
        proposal, warnings, _ = alignment.checks(before, after, marks_b, marks_a)
        assert proposal.found
        assert not {"scale", "view", "mirrored"} & _codes(warnings), (name, proposal.measures)
        # ...but nearer is still nearer.
        nearer, marks_n = photo(name, rf.Framing(face_share=0.45))
        _, warnings, _ = alignment.checks(before, nearer, marks_b, marks_n)
        assert "scale" in _codes(warnings)


def test_light_is_measured_on_the_skin_not_the_backdrop(photo):
    before, marks = photo("obama.jpg")
    subject = marks.subject
    mask = alignment.skin_mask(before, subject.eyes, subject.points[4])
    backdrop_darker = before.copy()
    backdrop_darker[mask == 0] = (backdrop_darker[mask == 0] * 0.5).astype(np.uint8)
    _, warnings, light = alignment.checks(before, backdrop_darker, marks, marks)
    assert "brightness" not in _codes(warnings) and light["skin_pixels"] > 1000
    skin_darker = before.copy()
    skin_darker[mask > 0] = (skin_darker[mask > 0] * 0.7).astype(np.uint8)
    _, warnings, _ = alignment.checks(before, skin_darker, marks, marks)
    assert "brightness" in _codes(warnings)


# --- the command -------------------------------------------------------------------------------


def _files(tmp_path, **images) -> dict[str, str]:
    paths = {}
    for key, image in images.items():
        path = tmp_path / f"{key}.jpg"
        path.write_bytes(rf.phone_photo(image) if image is not None else b"")
        paths[key] = str(path)
    return paths


def _run(*args) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("compare_photos", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_compare_photos_prints_the_matrix_from_the_after_file_to_the_before_file(tmp_path):
    # The after is the before's file moved by a known similarity (smaller, turned, shifted):
    # the printed matrix must be that transform, in the two files' own pixels.
    from tests.comparisons.images import jpeg, moved

    before = cv2.imdecode(
        np.frombuffer(rf.phone_photo(rf.source("obama.jpg")), np.uint8), cv2.IMREAD_COLOR
    )
    after, truth = moved(before, scale=1 / 1.2, degrees=6, shift=(40, -25))
    (tmp_path / "before.jpg").write_bytes(jpeg(before, 95))
    (tmp_path / "after.jpg").write_bytes(jpeg(after, 95))
    result = _run(str(tmp_path / "before.jpg"), str(tmp_path / "after.jpg"))
    assert result["refusals"] == []
    matrix = np.array(result["matrix"])
    assert matrix.shape == (2, 3)
    true_matrix = alignment.Transform(**truth).matrix()
    eyes = np.array(rf.haar_eyes(before))  # any two points of the face will do
    after_eyes = cv2.transform(eyes.reshape(-1, 1, 2), cv2.invertAffineTransform(true_matrix))
    assert rf.eye_error(matrix, eyes, after_eyes.reshape(-1, 2)) <= 0.02
    assert {"code", "message"} <= set(result["warnings"][0])
    assert {w["code"] for w in result["warnings"]} >= {"scale", "rotation"}


def test_compare_photos_refuses_two_people_with_a_null_matrix(tmp_path):
    paths = _files(tmp_path, before=rf.source("obama.jpg"), after=rf.source("biden.jpg"))
    result = _run(paths["before"], paths["after"])
    assert result["matrix"] is None
    assert [r["code"] for r in result["refusals"]] == ["not_same_person"]


def test_compare_photos_says_plainly_when_a_file_is_not_an_image(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    good = tmp_path / "good.jpg"
    good.write_bytes(rf.phone_photo(rf.source("obama.jpg")))
    with pytest.raises(CommandError, match="not an image"):
        call_command("compare_photos", str(good), str(bad), "--json")
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("compare_photos", str(tmp_path / "missing.jpg"), str(good))


def test_compare_photos_without_json_speaks_plainly(tmp_path):
    from io import StringIO

    paths = _files(tmp_path, before=rf.source("obama.jpg"), after=rf.source("biden.jpg"))
    out = StringIO()
    call_command("compare_photos", paths["before"], paths["after"], stdout=out)
    assert "No alignment proposed." in out.getvalue()
    assert "Refused [not_same_person]" in out.getvalue()


def test_front_camera_metadata_on_one_photo_only_is_a_mirror_warning():
    back = "iPhone 13 back camera 5.1mm f/1.6"
    front = "iPhone 13 front camera 2.71mm f/2.2"
    assert alignment.front_camera_warning(back, front).code == "mirrored"
    assert "after" in alignment.front_camera_warning(back, front).message
    assert "before" in alignment.front_camera_warning(front, back).message
    assert alignment.front_camera_warning(back, back) is None
    assert alignment.front_camera_warning(front, front) is None
    assert alignment.front_camera_warning("", "") is None


def test_the_lens_and_focal_length_are_read_from_the_original_when_it_carries_them():
    from PIL import ExifTags, Image

    from photos import imaging

    image = Image.new("RGB", (64, 48), (200, 180, 170))
    exif = Image.Exif()
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.LensModel] = "iPhone 13 front camera 2.71mm f/2.2"
    details[ExifTags.Base.FocalLengthIn35mmFilm] = 23
    import io

    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    text = imaging.camera_details(out.getvalue())
    assert text == "iPhone 13 front camera 2.71mm f/2.2 · 23 mm equivalent"
    plain = io.BytesIO()
    image.save(plain, "JPEG")
    assert imaging.camera_details(plain.getvalue()) == ""
    assert imaging.camera_details(b"not an image") == ""
