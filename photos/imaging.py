"""Photo validation at upload and display/thumbnail renditions for the worker; no Django here.

The format is decided by content (magic bytes) only. Pillow's limits are explicit: a pixel cap,
decompression-bomb warnings raised as errors, a format allow-list on every open, and truncated
files refused. Renditions are JPEGs carrying no metadata at all, already turned upright.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageFile

from clinic.images import DECODE_ERRORS, ImageRejected, pillow_limits

MAX_UPLOAD_BYTES = 40 * 1024 * 1024
MAX_PIXELS = 50_000_000
# A progressive JPEG is decoded once per scan: a camera or photo app writes 1 to about 20, and a
# "scan bomb" thousands (12,000 in 1.2 MB held a web worker for 33 s). Counted from the markers
# before any decode; the work bound is scans x pixels, so a large photo may have fewer.
MAX_JPEG_SCANS = 100
MAX_JPEG_SCAN_WORK = 2_000_000_000
THUMB_PX = 400
DISPLAY_PX = 1600
RENDITION_MIME = "image/jpeg"
RENDITION_QUALITY = 82
ACCEPTED = "Please choose a JPEG, PNG, WebP or HEIC photo."

# Process-wide, on purpose: these are the only settings this app ever wants.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
pillow_heif.register_heif_opener()

_SRGB = ImageCms.createProfile("sRGB")
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heif"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = _HEIC_BRANDS | {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
# EXIF orientation -> the transpose that turns the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What a broken file can make Pillow, libjpeg, libwebp or libheif raise while opening or decoding.
_DECODE_ERRORS = DECODE_ERRORS


@dataclass(frozen=True)
class Inspection:
    """What an accepted upload is: format, MIME type, upright size and EXIF capture time."""

    format: str  # JPEG, PNG, WEBP or HEIF
    mime: str
    width: int
    height: int
    taken_at: datetime | None


@dataclass(frozen=True)
class Renditions:
    """The display and thumbnail JPEGs of a photo, upright and without metadata."""

    display: bytes
    thumb: bytes
    width: int  # of the display rendition
    height: int
    mime: str = RENDITION_MIME


def inspect_upload(data: bytes, filename: str = "") -> Inspection:
    """Accept an upload by its content or raise ImageRejected saying why.

    Size, format and header dimensions are checked before any pixel is decoded.
    """
    name = display_name(filename)
    kind = _check_container(data, name)
    with _pillow_limits(name):
        image = _open(data, kind, name)
        _check_frames_and_pixels(image, kind, name)
        taken_at = _taken_at(image, kind)
        orientation = _orientation(image) if kind != "PNG" or "exif" in image.info else 1
        width, height = image.size
        _check_complete(image, data, kind, name)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Inspection(kind, _mime(data, kind), width, height, taken_at)


def make_renditions(data: bytes) -> Renditions:
    """Decode once at reduced size, turn upright, and encode the display and thumbnail JPEGs.

    Every check of inspect_upload except the cheap completeness probe is repeated here; the
    decode itself refuses truncated data, raising ImageRejected.
    """
    name = "This photo"
    kind = _check_container(data, name)
    with _pillow_limits(name):
        image = _open(data, kind, name)
        _check_frames_and_pixels(image, kind, name)
        if kind == "JPEG" and max(image.size) > DISPLAY_PX:
            # libjpeg scales in the DCT: the largest 1/2, 1/4 or 1/8 still >= DISPLAY_PX.
            image.draft("RGB", _draft_request(image.size, DISPLAY_PX))
        _decode(image, name)
    icc_profile = image.info.get("icc_profile")
    orientation = _orientation(image)
    display = _fit(_flatten(image), DISPLAY_PX)
    display = _to_srgb(display, icc_profile)
    if orientation in _UPRIGHT:
        # Transposing the 1600 px image costs a fraction of transposing the original.
        display = display.transpose(_UPRIGHT[orientation])
    thumb = _fit(display, THUMB_PX)
    return Renditions(
        display=_encode_jpeg(display),
        thumb=_encode_jpeg(thumb),
        width=display.width,
        height=display.height,
    )


def display_name(filename: str) -> str:
    """Return a file name safe to show in a message: no path, no control characters, short."""
    visible = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    name = visible.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if len(name) > 80:
        name = name[:77] + "..."
    return name or "This file"


# -- checks ---------------------------------------------------------------------------------


def _check_container(data: bytes, name: str) -> str:
    """Refuse by size and magic bytes alone; return the accepted format."""
    if not data:
        raise ImageRejected(f"{name} is empty (0 bytes), so there is no photo in it.", "empty")
    if len(data) > MAX_UPLOAD_BYTES:
        # One decimal place, so 40.3 MB never reads as "40 MB; at most 40 MB".
        size_mb = f"{len(data) / (1024 * 1024):.1f}".removesuffix(".0")
        limit_mb = MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ImageRejected(
            f"{name} is {size_mb} MB; a photo can be at most {limit_mb} MB.", "too_large"
        )
    kind = _sniff(data)
    if kind is None:
        raise ImageRejected(
            f"{name} is not a photo we can read (it looks like {_describe(data)}). {ACCEPTED}",
            "not_a_photo",
        )
    return kind


def _sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    brands = _ftyp_brands(data)
    if brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS:
        return "HEIF"
    return None


def _ftyp_brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO base media file (HEIF, AVIF, MP4), if any."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return set()
    size = min(int.from_bytes(data[:4], "big"), len(data), 256)
    return {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}


def _describe(data: bytes) -> str:
    """Say in plain words what a refused file looks like."""
    head = data[:4096]
    signatures = [
        (b"%PDF", "a PDF"),
        (b"BM", "a BMP image"),
        (b"II*\x00", "a TIFF image or camera RAW file"),
        (b"MM\x00*", "a TIFF image or camera RAW file"),
        (b"PK\x03\x04", "a ZIP archive or an Office document"),
        (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
        (b"8BPS", "a Photoshop document"),
        (b"{\\rtf", "a rich-text document"),
        (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
        (b"\x1a\x45\xdf\xa3", "a video"),
    ]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        # Each frame of a GIF animation has its own graphic control block.
        return "an animated GIF" if data.count(b"\x21\xf9\x04", 0, 1 << 20) > 1 else "a GIF image"
    for magic, description in signatures:
        if head.startswith(magic):
            return description
    brands = _ftyp_brands(data)
    if brands & _AVIF_BRANDS:
        return "an AVIF image"
    if b"crx " in brands:
        return "a camera RAW file"
    if brands:
        return "a video"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in text:
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")):
        return "a web page"
    if _is_text(head):
        return "a text file"
    return "an unknown kind of file"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut off at the end of the sample is still text.
        if error.start < len(head) - 4:
            return False
        text = head[: error.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def _pillow_limits(name: str):
    """Raise decompression-bomb warnings as errors and turn them into a clear refusal."""
    return pillow_limits(MAX_PIXELS, _too_many_pixels(name))


def _too_many_pixels(name: str, size: tuple[int, int] | None = None) -> ImageRejected:
    limit = MAX_PIXELS // 1_000_000
    if size is None:
        detail = f"it has more than {limit} megapixels"
    else:
        detail = f"it is {size[0]} x {size[1]} pixels, {size[0] * size[1] / 1e6:.0f} megapixels"
    return ImageRejected(
        f"{name} is too large a picture ({detail}); a photo can have at most {limit} megapixels.",
        "too_many_pixels",
    )


def _open(data: bytes, kind: str, name: str) -> ImageFile.ImageFile:
    """Open with only the sniffed format allowed; Pillow reads the header, no pixels yet."""
    try:
        return Image.open(io.BytesIO(data), formats=[kind])
    except _DECODE_ERRORS as error:
        raise _unreadable(name, kind, error) from error


def _check_frames_and_pixels(image: Image.Image, kind: str, name: str) -> None:
    width, height = image.size
    # Pillow has refused most of these already; this holds even if its settings were changed.
    if width * height > MAX_PIXELS:
        raise _too_many_pixels(name, image.size)
    # A phone's multi-picture JPEG (MPO) holds previews, not an animation; its first is the photo.
    if image.format != "MPO" and getattr(image, "n_frames", 1) > 1:
        raise ImageRejected(
            f"{name} is an animation or holds several pictures; please upload a single photo.",
            "animated",
        )


def _check_scan_work(name: str, size: tuple[int, int], scans: int) -> None:
    """Refuse a JPEG whose scans would make its decode take far longer than a photo's."""
    work = scans * size[0] * size[1]
    if scans > MAX_JPEG_SCANS or work > MAX_JPEG_SCAN_WORK:
        raise ImageRejected(
            f"{name} is a progressive JPEG stored in {scans:,} passes (scans); a photo from a "
            f"camera or photo app has 1 to about 20, and we accept at most {MAX_JPEG_SCANS}"
            f"{' at this size' if scans <= MAX_JPEG_SCANS else ''}. Please export it again as "
            "a standard JPEG and upload that.",
            "too_many_scans",
        )


def _jpeg_structure(data: bytes) -> tuple[bool, int]:
    """Whether the first picture's markers run through to its end-of-image marker, and how
    many scans it has: segment by segment, and through each scan's entropy-coded data (where
    0xFF is only ever followed by a stuffed 0x00, a restart marker or fill). Whatever a phone
    appends after it (a motion photo's video, an MPO's previews) is not looked at."""
    n = len(data)
    scans = 0
    if data[:2] != b"\xff\xd8":
        return False, scans
    i = 2
    while i + 2 <= n:
        if data[i] != 0xFF:
            return False, scans
        marker = data[i + 1]
        if marker == 0xFF:  # fill before a marker
            i += 1
            continue
        if marker == 0xD9:
            return True, scans
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            i += 2
            continue
        if i + 4 > n:
            return False, scans
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # a scan: its data runs to the next real marker
            scans += 1
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    return False, scans
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    i = j + 2
                elif following == 0xFF:
                    i = j + 1
                else:
                    i = j
                    break
    return False, scans


def _check_complete(image: ImageFile.ImageFile, data: bytes, kind: str, name: str) -> None:
    """Refuse a truncated or damaged file cheaply at upload, without a full-size decode."""
    if kind == "JPEG":
        # Before any decode, and outside the try below: a refusal of its own, not "damaged".
        reaches_end, scans = _jpeg_structure(data)
        _check_scan_work(name, image.size, scans)
    try:
        if kind == "JPEG":
            # A 1/8-scale DCT decode still reads every byte of scan data (~10-40 ms for 12 MP).
            width, height = image.size
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
            # libjpeg finishes a picture whose last bytes are missing about one time in
            # twenty (it makes up an end marker); the file was still cut short.
            if not reaches_end:
                raise OSError("image file is truncated: no end-of-image marker")
        elif kind == "PNG":
            image.verify()  # every chunk's CRC through IEND, without inflating the pixels
        elif kind == "WEBP":
            image.load()  # libwebp has no cheaper check of the bitstream
        else:
            _check_boxes(data)  # a HEVC decode takes ~1 s; the worker's decode catches the rest
    except _DECODE_ERRORS as error:
        raise _unreadable(name, kind, error) from error


def _check_boxes(data: bytes) -> None:
    """Walk the top-level ISO-BMFF boxes of a HEIF file; a cut-short file overruns the last."""
    position = 0
    while position < len(data):
        if len(data) - position < 8:
            raise OSError("truncated box header")
        size = int.from_bytes(data[position : position + 4], "big")
        header = 8
        if size == 1:
            if len(data) - position < 16:
                raise OSError("truncated box header")
            size, header = int.from_bytes(data[position + 8 : position + 16], "big"), 16
        elif size == 0:
            return  # the last box runs to the end of the file
        if size < header:
            raise SyntaxError("impossible box size")
        if position + size > len(data):
            raise OSError("image file is truncated")
        position += size


def _decode(image: ImageFile.ImageFile, name: str) -> None:
    try:
        image.load()
    except _DECODE_ERRORS as error:
        raise _unreadable(name, image.format or "", error) from error


def _unreadable(name: str, kind: str, error: BaseException) -> ImageRejected:
    label = "HEIC" if kind == "HEIF" else {"MPO": "JPEG", "WEBP": "WebP"}.get(kind, kind)
    text = str(error).lower()
    if "truncat" in text or "end of file" in text or "outside of file bounds" in text:
        return ImageRejected(
            f"{name} is incomplete: the {label} file was cut short, perhaps by an interrupted "
            "copy or transfer. Please upload it again.",
            "truncated",
        )
    return ImageRejected(f"{name} is damaged and cannot be read as a {label} photo.", "corrupt")


# -- metadata -------------------------------------------------------------------------------


def _exif(image: Image.Image) -> Image.Exif | None:
    # Broken EXIF is common from some cameras; it must not cost the practitioner the photo.
    try:
        return image.getexif()
    except Exception:
        return None


def _orientation(image: Image.Image) -> int:
    """EXIF orientation; pillow-heif applies HEIF's own rotation and reports 1."""
    exif = _exif(image)
    value = exif.get(ExifTags.Base.Orientation, 1) if exif else 1
    return value if isinstance(value, int) else 1


def _taken_at(image: Image.Image, kind: str) -> datetime | None:
    """EXIF DateTimeOriginal as a naive local datetime, when present and sane."""
    # PNG keeps EXIF after the pixels sometimes; finding it would mean decoding them all.
    if kind == "PNG" and "exif" not in image.info:
        return None
    exif = _exif(image)
    if not exif:
        return None
    try:
        value = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
    except Exception:
        return None
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _mime(data: bytes, kind: str) -> str:
    if kind == "HEIF" and _ftyp_brands(data) & _HEIC_BRANDS:
        return "image/heic"
    return _MIME[kind]


# -- renditions -----------------------------------------------------------------------------


def _draft_request(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    return max(1, width * long_side // longest), max(1, height * long_side // longest)


def _flatten(image: Image.Image) -> Image.Image:
    """Bring odd modes to RGB or L before resampling; transparency goes onto white."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode == "CMYK":
        return image  # converted with its ICC profile, if any, after the resize
    return image.convert("RGB")


def _fit(image: Image.Image, long_side: int) -> Image.Image:
    """Shrink so the long side is long_side: integer box reduce first, then one cheap resample."""
    width, height = image.size
    longest = max(width, height)
    if longest <= long_side:
        return image
    target = (
        max(1, round(width * long_side / longest)),
        max(1, round(height * long_side / longest)),
    )
    factor = longest // long_side
    if factor >= 2:
        image = image.reduce(factor)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BILINEAR)
    return image


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert to plain sRGB so colours stay right once the ICC profile is dropped."""
    if icc_profile:
        try:
            transform = _srgb_transform(icc_profile, image.mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            transform = None  # a broken or mismatched profile: keep the pixels as they are
        if transform is not None:
            # None only for a transform in place, which this is not.
            return ImageCms.applyTransform(image, transform)  # type: ignore[return-value]
    return image if image.mode == "RGB" else image.convert("RGB")


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from a photo's profile (an iPhone's Display P3, say) to sRGB; None if sRGB."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    if "srgb" in ImageCms.getProfileDescription(source).lower().replace(" ", ""):
        return None
    return ImageCms.buildTransform(source, _SRGB, mode, "RGB")


def _encode_jpeg(image: Image.Image) -> bytes:
    # Pillow writes a comment, XMP, ICC or DPI it finds in info: start from nothing.
    image.info = {}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=RENDITION_QUALITY, optimize=False)
    return out.getvalue()
