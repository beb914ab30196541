"""Logos and signatures pass the same image gate as photos: byte and pixel limits, the
decompression-bomb guard, one frame, and no truncated file even after WeasyPrint has turned
Pillow's truncated loading on for the process."""

import base64
import io

import pytest
from django.core.exceptions import ValidationError
from PIL import Image, ImageFile

from accounts.services import logo_png
from clinic.images import ImageRejected, checked_image
from clinic.tokens import lifetime_text
from consent.services import signature_png
from tests import factories as f
from tests.photos.images import png_bomb


def _png(size=(300, 100), frames=1) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGBA", size, (16, 35, 63, 255 - i)) for i in range(frames)]
    images[0].save(out, "PNG", save_all=frames > 1, append_images=images[1:])
    return out.getvalue()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_logo_bomb_is_refused_before_its_pixels_are_built():
    with pytest.raises(ValidationError, match="too many pixels"):
        logo_png(png_bomb(60000, 60000))


def test_an_animated_logo_is_refused():
    with pytest.raises(ValidationError, match="single picture"):
        logo_png(_png(frames=3))


def test_a_signature_bomb_is_refused():
    with pytest.raises(ValidationError, match="too large"):
        signature_png(_data_url(png_bomb(5000, 5000)))


def test_a_truncated_signature_is_refused_even_with_truncated_loading_on(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as WeasyPrint leaves it
    whole = f.signature_png()
    with pytest.raises(ValidationError, match="draw your signature"):
        signature_png(_data_url(whole[: len(whole) - 40]))


def test_a_drawn_signature_passes_the_gate():
    assert signature_png(_data_url(f.signature_png())) == f.signature_png()


def test_the_gate_names_what_it_refused():
    with pytest.raises(ImageRejected, match="The logo is empty"):
        checked_image(b"", formats=["PNG"], max_bytes=10, max_pixels=10, what="logo")
    with pytest.raises(ImageRejected, match="PNG, JPEG or WebP"):
        checked_image(
            b"%PDF", formats=["PNG", "JPEG", "WEBP"], max_bytes=99, max_pixels=99, what="logo"
        )


def test_link_lifetimes_are_said_in_words():
    from datetime import timedelta

    assert lifetime_text(timedelta(days=7)) == "7 days"
    assert lifetime_text(timedelta(days=1)) == "1 day"
    assert lifetime_text(timedelta(hours=36)) == "36 hours"
