"""Attachments as the console shows them: what the bytes really are (never what anyone said
they were), a photo's metadata read in memory, and a copy of the photo without it.

Only the console calls this, on bytes it has just decrypted; nothing here is stored or
logged. An EXIF GPS position is a location like any other: it is shown to those who may read
the case and kept nowhere else.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

#: Image formats served, by Pillow's name, and the type the browser is told.
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
#: The largest photo decoded, in pixels (a phone camera's is far below).
MAX_PIXELS = 50_000_000
#: EXIF fields shown to the operator (the GPS position apart).
SHOWN_TAGS = (
    ExifTags.Base.Make,
    ExifTags.Base.Model,
    ExifTags.Base.Software,
    ExifTags.Base.DateTime,
    ExifTags.Base.DateTimeOriginal,
    ExifTags.Base.ImageDescription,
    ExifTags.Base.Artist,
    ExifTags.Base.LensModel,
)


class NotMedia(ValueError):
    """The bytes are not an image or a sound the console serves."""


def sniff(data: bytes) -> str | None:
    """The media type the leading bytes show: a photo or a sound, else ``None`` (HTML, SVG,
    scripts and anything else are never served)."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp" and head[8:11] in (b"M4A", b"mp4", b"iso", b"MSN"):
        return "audio/mp4"
    return None


def is_audio(data: bytes) -> bool:
    return (sniff(data) or "").startswith("audio/")


@dataclass(frozen=True)
class PhotoInfo:
    """A photo's metadata, shown apart from the photo."""

    mime: str
    width: int
    height: int
    #: EXIF fields as (name, value), in :data:`SHOWN_TAGS` order.
    exif: tuple[tuple[str, str], ...] = ()
    #: The EXIF GPS position (latitude, longitude), if the photo has one.
    gps: tuple[float, float] | None = None


def _open(data: bytes) -> Image.Image:
    kind = sniff(data)
    if kind is None or not kind.startswith("image/"):
        raise NotMedia("not a photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(IMAGE_TYPES))
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ):
        raise NotMedia("not a photo") from None
    if image.format not in IMAGE_TYPES or IMAGE_TYPES[image.format] != kind:
        raise NotMedia("not a photo")
    if image.width * image.height > MAX_PIXELS:
        raise NotMedia("the photo is too large to show")
    return image


def _degrees(value: Any) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60 + s / 3600


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude])
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if str(gps.get(ExifTags.GPS.GPSLatitudeRef, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(ExifTags.GPS.GPSLongitudeRef, "E")).upper().startswith("W"):
        lon = -lon
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def photo_info(data: bytes) -> PhotoInfo:
    """What the photo's bytes say of it (:class:`NotMedia` when they are not a photo)."""
    image = _open(data)
    exif = image.getexif()
    tags: dict[int, Any] = {**exif, **exif.get_ifd(ExifTags.IFD.Exif)}
    shown = []
    for tag in SHOWN_TAGS:
        value = tags.get(tag)
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        text = "".join(c for c in str(value) if c.isprintable()).strip()[:200]
        if text:
            shown.append((tag.name, text))
    mime = IMAGE_TYPES[str(image.format)]
    return PhotoInfo(mime, image.width, image.height, tuple(shown), _gps(exif))


def clean_photo(data: bytes) -> tuple[bytes, str]:
    """The photo as the browser gets it: turned upright and saved again without its
    metadata (EXIF, GPS, comments); returns the bytes and their media type."""
    image = _open(data)
    try:
        source_format = image.format
        image = ImageOps.exif_transpose(image)
        if source_format == "JPEG" or image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            out_format = "JPEG"
            image = image.convert("RGB")
        else:
            out_format = "PNG"
        buf = io.BytesIO()
        image.save(buf, format=out_format, quality=92)
    except (OSError, ValueError, Image.DecompressionBombError):
        raise NotMedia("not a photo") from None
    return buf.getvalue(), IMAGE_TYPES[out_format]
