"""Validating untrusted images: the checked open, the displayed size and the bounded full check.

Everything here is pure and synchronous (bytes in, answers out) so it can run in a worker
thread; :func:`inspect_image_async` does exactly that with :func:`asyncio.to_thread`,
because decoding a 4096×4096 image takes hundreds of milliseconds of CPU that must never
run on the event loop. Fitting results under Discord's upload limit is ``bot.images.fit``.

Untrusted bytes are checked in this order: magic bytes, then the dimensions read from
the header by our own small parser (``bot.images.headers``: a decompression bomb is refused
before Pillow allocates anything), then the memory the check will need
(``bot.images.decode_cost``), then a decode bounded by it (never a full-size PNG or JPEG
frame). The names of both modules that callers use are importable from here too.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Final

from PIL import ExifTags, Image

from bot.core.errors import ImageError
from bot.core.localizable import N_
from bot.images.decode_cost import DECODE_BUDGET, check_png_stream, decode_cost
from bot.images.headers import (
    DEFAULT_MAX_PIXELS,
    EXTENSIONS,
    MIME_TYPES,
    ImageFormat,
    checked_header,
    sniff_image_type,
    too_large,
)

__all__ = [
    "DECODE_BUDGET",
    "DEFAULT_MAX_PIXELS",
    "EXTENSIONS",
    "MIME_TYPES",
    "ImageFormat",
    "ImageInfo",
    "decode_cost",
    "display_size",
    "inspect_image",
    "inspect_image_async",
    "open_image",
    "sniff_image_type",
]

_PILLOW_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

_ORIENTATION_SWAPS: Final = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class ImageInfo:
    """A validated image. ``width``/``height`` are as displayed (EXIF orientation applied)."""

    format: ImageFormat
    width: int
    height: int
    size_bytes: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


def open_image(
    data: bytes, *, max_pixels: int, label: str, load: bool
) -> tuple[Image.Image, ImageFormat]:
    """Open (and with ``load`` fully decode) untrusted bytes, or raise a user-safe ImageError."""
    fmt, _, _ = checked_header(data, max_pixels=max_pixels, label=label)
    try:
        img = Image.open(io.BytesIO(data), formats=[_PILLOW_NAMES[fmt]])
        # Re-check with Pillow's idea of the size.
        if img.width * img.height > max_pixels:
            raise too_large(label, img.width, img.height, max_pixels)
        if load:
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's process-wide guard (only reachable with max_pixels above its limit).
        raise ImageError(N_("{label} is too large."), label=label) from exc
    except Exception as exc:  # any failure decoding untrusted bytes means they're broken
        raise ImageError(N_("{label} is corrupt or truncated."), label=label) from exc
    return img, fmt


def display_size(img: Image.Image) -> tuple[int, int]:
    """Width and height as shown, i.e. swapped when EXIF says the image is rotated 90°."""
    # Only consult EXIF when the header carried it: PNG's getexif() would decode the image.
    if "exif" in img.info:
        try:
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        except Exception:  # corrupt EXIF: Pillow shows the image unrotated too
            orientation = 1
        if orientation in _ORIENTATION_SWAPS:
            return img.height, img.width
    return img.width, img.height


def inspect_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """Validate that ``data`` is a complete, decodable PNG, JPEG or WebP image.

    Decodes within :func:`decode_cost`, never the whole image at full size where the format
    allows less: a PNG's compressed stream is inflated in steps and checked against its
    header and chunk CRCs without keeping pixels; a JPEG is decoded at 1/8 scale
    (``Image.draft``: every coefficient is still read, so truncation is caught); a WebP is
    decoded in full (Pillow cannot scale it). Raises :class:`ImageError` whose message starts
    with ``label`` and says "is empty", "is not a PNG, JPEG or WebP image", "is corrupt or
    truncated" or "is too large: W×H pixels".
    """
    decode_cost(data, max_pixels=max_pixels, label=label)
    img, fmt = open_image(data, max_pixels=max_pixels, label=label, load=False)
    width, height = display_size(img)
    if fmt == "png":
        if not check_png_stream(data):
            raise ImageError(N_("{label} is corrupt or truncated."), label=label)
    else:
        if fmt == "jpeg":
            img.draft(None, (1, 1))  # libjpeg's smallest scale, 1/8
        try:
            img.load()
        except Exception as exc:  # any failure decoding untrusted bytes means they're broken
            raise ImageError(N_("{label} is corrupt or truncated."), label=label) from exc
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


async def inspect_image_async(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """:func:`inspect_image` in a worker thread."""
    return await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels, label=label)
