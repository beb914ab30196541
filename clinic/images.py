"""The one gate every image a person hands us passes through: photos, logos, signatures.

Pure (no Django). Pillow's limits are explicit on every open: a byte limit, a pixel cap with
decompression-bomb warnings raised as errors, a format allow-list, truncated files refused
(WeasyPrint turns truncated loading on process-wide at import), one frame only. Callers turn
``ImageRejected`` into their own clear message.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile

DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, RuntimeError)


class ImageRejected(ValueError):
    """An image we do not accept; str(error) is a sentence for the person who gave it.

    code is one of: empty, too_large, not_a_photo, too_many_pixels, animated, truncated, corrupt.
    """

    def __init__(self, message: str, code: str = "rejected") -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def pillow_limits(max_pixels: int, refusal: ImageRejected) -> Iterator[None]:
    """Within: at most ``max_pixels`` (bombs raise ``refusal``), truncated files refused."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise refusal from error


def checked_image(
    data: bytes, *, formats: list[str], max_bytes: int, max_pixels: int, what: str
) -> Image.Image:
    """Decode a small image (a logo, a signature) whole, after the byte, format, pixel and
    frame checks; raise ImageRejected naming ``what`` otherwise."""
    if not data:
        raise ImageRejected(f"The {what} is empty.", "empty")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"The {what} is too large: it must be under {max_bytes // 1_000_000 or 1} MB.",
            "too_large",
        )
    too_many = ImageRejected(
        f"The {what} has too many pixels (at most {max_pixels / 1e6:g} megapixels).",
        "too_many_pixels",
    )
    try:
        with pillow_limits(max_pixels, too_many):
            image = Image.open(io.BytesIO(data), formats=formats)
            if image.width * image.height > max_pixels:
                raise too_many
            if getattr(image, "n_frames", 1) > 1:
                raise ImageRejected(f"The {what} must be a single picture.", "animated")
            image.load()
    except ImageRejected:
        raise
    except DECODE_ERRORS as error:
        names = [f.replace("WEBP", "WebP") for f in formats]
        kinds = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        raise ImageRejected(f"The {what} must be a {kinds} image.", "corrupt") from error
    return image
