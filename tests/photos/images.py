"""Synthetic photos and hostile files, built in memory for the photo tests and the benchmark."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageDraw

pillow_heif.register_heif_opener()

RED = (230, 20, 20)
TAKEN_AT = "2025:03:14 10:30:00"
CAMERA_MAKE = "Apple"
CAMERA_MODEL = "iPhone 15 Pro"
SECRET_COMMENT = b"patient-name-in-comment"


def photo_like(width: int, height: int, *, grain: float = 30.0) -> Image.Image:
    """An RGB image with a photo's statistics: smooth gradients, blotches and sensor grain."""
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = horizontal.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    image = Image.merge("RGB", (horizontal, radial, vertical))
    blotches = Image.merge(
        "RGB",
        [
            Image.effect_noise((max(1, width // 16), max(1, height // 16)), 60).resize(
                (width, height), Image.Resampling.BICUBIC
            )
            for _ in range(3)
        ],
    )
    image = Image.blend(image, blotches, 0.3)
    if grain:
        noise = Image.merge("RGB", [Image.effect_noise((width, height), grain) for _ in range(3)])
        image = Image.blend(image, noise, 0.3)
    # A face-like oval gives the encoder edges to work on.
    draw = ImageDraw.Draw(image)
    draw.ellipse(
        (width * 0.35, height * 0.2, width * 0.65, height * 0.8), outline=(200, 160, 140), width=8
    )
    return image


def with_red_corner(image: Image.Image, size: int | None = None) -> Image.Image:
    """Paint a red block at the stored top-left corner, to see where orientation moves it."""
    marked = image.copy()
    side = size or max(8, min(image.size) // 6)
    marked.paste(RED, (0, 0, side, side))
    return marked


def phone_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: device, capture time, GPS position and orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif[ExifTags.Base.Model] = CAMERA_MODEL
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = TAKEN_AT
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def phone_jpeg(width: int = 3200, height: int = 2400, orientation: int = 6, **options) -> bytes:
    """A landscape-stored phone JPEG with a red top-left block, GPS EXIF, ICC, XMP and a comment."""
    image = with_red_corner(photo_like(width, height))
    return encode(
        image,
        "JPEG",
        quality=options.pop("quality", 90),
        exif=phone_exif(orientation).tobytes(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        comment=SECRET_COMMENT,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>',
        **options,
    )


def heic(image: Image.Image, quality: int = 60, **options) -> bytes:
    """A HEIC as an iPhone makes it (HEVC in HEIF), through pillow-heif."""
    # x265's default preset takes seconds per picture; the decoder cost is what matters here.
    options.setdefault("enc_params", {"preset": "ultrafast"})
    return encode(image, "HEIF", quality=quality, **options)


def animated(fmt: str, frames: int, size: tuple[int, int] = (32, 24)) -> bytes:
    """An animation in fmt (GIF, WEBP or PNG) with frames distinct frames."""
    images = [Image.new("RGB", size, (i % 256, (i * 7) % 256, 90)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=40, loop=0)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A real PNG header declaring width x height RGB pixels with a tiny IDAT: no pixels built."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_claiming_size(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "grey"), "JPEG", quality=30))
    position = 2
    while data[position] == 0xFF and data[position + 1] not in (0xC0, 0xC1, 0xC2):
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    # SOFn: marker(2) length(2) precision(1) height(2) width(2)
    data[position + 5 : position + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def minimal_pdf() -> bytes:
    return (
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def multi_picture_jpeg() -> bytes:
    """A phone's multi-picture JPEG (MPO): the photo followed by a smaller preview."""
    photo = with_red_corner(photo_like(800, 600, grain=10))
    preview = photo.resize((200, 150))
    return encode(photo, "MPO", save_all=True, append_images=[preview], quality=85)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def display_p3_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Display P3 primaries, as iPhones tag photos."""
    text = b"Display P3"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" + b"\0" * 78
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", _xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", _xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0No copyright\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, payload in tags:
        payload += b"\0" * (-len(payload) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(payload))
        body += payload
    header = (
        struct.pack(">I", offset + len(body))
        + b"\0" * 4
        + b"\x02\x10\x00\x00mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + body


def heic_claiming_49_megapixels() -> bytes:
    """A 12 KB HEIC of 8100 x 6050 flat grey: under the pixel cap, yet decoding it takes a
    plain process past 450 MB. Made once (encoding it needs 1 GB) with
    ``heic(Image.new("RGB", (8100, 6050), (128, 120, 110)), quality=10)`` and kept as a file."""
    from pathlib import Path

    return (Path(__file__).parent / "data" / "claims-49-megapixels.heic").read_bytes()


def _jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan (its SOS segment and entropy-coded data) of a JPEG."""
    position, scans = 2, []
    while data[position + 1] != 0xD9:
        marker = data[position + 1]
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:
            while True:
                end = data.find(b"\xff", end)
                following = data[end + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    end += 2
                else:
                    break
            scans.append((position, end))
        position = end
    return scans


def jpeg_scan_bomb(scans: int, size: tuple[int, int] = (640, 480), noise: bool = True) -> bytes:
    """A valid progressive JPEG made of ``scans`` scans: a real encoder's ~10, then its
    smallest scan repeated until there are ``scans`` (libjpeg decodes each one again)."""
    image = Image.effect_noise(size, 40).convert("RGB") if noise else Image.new("RGB", size)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, progressive=True)
    data = out.getvalue()
    found = _jpeg_scans(data)
    start, end = min(found, key=lambda scan: scan[1] - scan[0])
    last = found[-1][1]
    return data[:last] + data[start:end] * (scans - len(found)) + data[last:]
