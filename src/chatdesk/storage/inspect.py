"""What an uploaded file really is, from its bytes, and a clean copy of an image.

The type comes from the bytes (``filetype``'s signatures; text when the bytes are
UTF-8 without control characters), never from the file's name or what the browser
said, and must be on the allow-list; what the browser said must not contradict it.
Images are decoded with a cap on their pixels (a decompression bomb is refused before
it is decoded) and written again: EXIF (with its GPS position), XMP, comments and
text chunks are left behind, a JPEG's orientation is applied, and a thumbnail is made.
CPU work: call :func:`inspect` off the event loop.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["IMAGE_TYPES", "Inspected", "Refused", "avatar_image", "clean_name", "inspect"]

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
THUMBNAIL_SIZE = (320, 320)
THUMBNAIL_TYPE = "image/webp"
# What a browser may say of a file that says nothing of its type.
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/x-unknown"}
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
}
# Image info kept when re-encoding: what the picture needs, nothing about its origin.
_KEEP_INFO = {"transparency", "duration", "loop", "background", "disposal"}


class Refused(ValueError):
    """The file cannot be an attachment; the message says why, for the uploader."""


@dataclass(frozen=True)
class Inspected:
    content_type: str
    data: bytes  # the bytes to store: for an image, its clean copy
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def clean_name(name: str | None, content_type: str) -> str:
    """The file's name as uploaders see it: no directories, no control characters, at most
    200 characters, never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    if not base:
        base = "image" if content_type in IMAGE_TYPES else "file"
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 199 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else base[:200]
    return base


def _sniff(data: bytes) -> str:
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text):
        return "application/octet-stream"
    return "text/plain"


def inspect(data: bytes, claimed: str | None, allowed: set[str], max_pixels: int) -> Inspected:
    """The upload as it will be stored, or :class:`Refused` with the reason."""
    if not data:
        raise Refused("The file is empty.")
    real = _sniff(data)
    if real not in allowed:
        raise Refused(f"Files of this type ({real}) cannot be attached.")
    said = (claimed or "").split(";", 1)[0].strip().lower()
    said = _ALIASES.get(said, said)
    if (
        said not in _GENERIC
        and said != real
        and not (real == "text/plain" and said.startswith("text/"))
    ):
        raise Refused(f"The file's content ({real}) does not match its declared type ({said}).")
    if real in IMAGE_TYPES:
        return _image(data, real, max_pixels)
    return Inspected(real, data)


def _image(data: bytes, content_type: str, max_pixels: int) -> Inspected:
    fmt = IMAGE_TYPES[content_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
            frames = getattr(image, "n_frames", 1)
            width, height = image.size
            if width * height * frames > max_pixels:
                raise Refused("The image is too large to be shown.")
            image.load()
            clean = _reencode(image, fmt)
            thumbnail = _thumbnail(image)
        except Refused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Refused("The image is too large to be shown.") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise Refused("The image cannot be read; it may be damaged.") from exc
    if fmt == "JPEG":
        width, height = Image.open(io.BytesIO(clean)).size  # turned upright
    return Inspected(content_type, clean, width, height, thumbnail)


def _reencode(image: Image.Image, fmt: str) -> bytes:
    """The picture alone: its pixels, frames, transparency and colour profile, nothing
    of where and by what it was taken."""
    icc = image.info.get("icc_profile")
    keep: dict[str | tuple[int, int], Any] = {
        key: value for key, value in image.info.items() if key in _KEEP_INFO
    }
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if fmt == "JPEG":
        upright = ImageOps.exif_transpose(image)
        upright.info = {}
        upright.save(out, "JPEG", quality=90, **options)
        return out.getvalue()
    image.info = keep
    if fmt == "WEBP":
        options["lossless"] = True
    if getattr(image, "n_frames", 1) > 1:
        options["save_all"] = True
    image.save(out, fmt, **options)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    image.seek(0)
    small = ImageOps.exif_transpose(image.copy())
    if small.mode not in ("RGB", "RGBA"):
        small = small.convert(
            "RGBA" if "transparency" in image.info or small.mode in ("LA", "PA") else "RGB"
        )
    small.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    return out.getvalue()


AVATAR_SIZE = 256


def avatar_image(data: bytes, claimed: str | None, max_pixels: int) -> bytes:
    """An uploaded face as it is stored: a raster image (sniffed, decoded within the pixel
    cap, re-encoded like an attachment), cropped to its centre square, at most
    ``AVATAR_SIZE`` pixels wide, as WebP. :class:`Refused` for anything else."""
    try:
        found = inspect(data, claimed, set(IMAGE_TYPES), max_pixels)
    except Refused as exc:
        if str(exc).startswith("Files of this type"):
            raise Refused("An avatar must be a PNG, JPEG, GIF or WebP image.") from exc
        raise
    image: Image.Image = Image.open(io.BytesIO(found.data))
    image.seek(0)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    side = min(image.size[0], image.size[1], AVATAR_SIZE)
    square = ImageOps.fit(image, (side, side))
    out = io.BytesIO()
    square.save(out, "WEBP", quality=85)
    return out.getvalue()
