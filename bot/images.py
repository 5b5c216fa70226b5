"""Image bytes: sniffing the format and validating untrusted images.

Everything here is pure and synchronous (bytes in, answers out) so it can run in a worker
thread; :func:`inspect_image_async` does exactly that with :func:`asyncio.to_thread`,
because decoding a 4096×4096 image takes hundreds of milliseconds of CPU that must never
run on the event loop. Fitting results under Discord's upload limit is ``bot.fitting``.

Untrusted bytes are checked in this order: magic bytes, then the dimensions read from
the header by our own small parser (so a decompression bomb is refused before Pillow
allocates anything, against an explicit ``max_pixels`` rather than the process-wide
``Image.MAX_IMAGE_PIXELS``, which we never modify), then a full decode.
"""

from __future__ import annotations

import asyncio
import io
import struct
from dataclasses import dataclass
from typing import Final, Literal

from PIL import ExifTags, Image

from bot.errors import ImageError

ImageFormat = Literal["png", "jpeg", "webp"]

MIME_TYPES: dict[ImageFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def sniff_image_type(data: bytes) -> ImageFormat | None:
    """The format from the magic bytes, or None when it is not PNG, JPEG or WebP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


#: Default pixel cap for decoding. 8192×8192 is twice Seedream's largest output in each
#: dimension, and stays below Pillow's own warning threshold (~89.5 MP) so Pillow never
#: warns about an image we accepted.
DEFAULT_MAX_PIXELS: Final = 8192 * 8192


EXTENSIONS: dict[ImageFormat, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}

_PILLOW_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

#: Extra formats normalise_reference() converts (Discord members do upload these).


_ORIENTATION_SWAPS: Final = frozenset({5, 6, 7, 8})
_JPEG_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


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


# --------------------------------------------------------------------------- validation


def _header_size(data: bytes, fmt: ImageFormat) -> tuple[int, int] | None:
    """Stored pixel dimensions from the header alone, or None when the header is broken.

    Why our own parser: it lets us refuse a bomb before Pillow allocates anything (its
    WebP opener allocates the whole canvas), against our explicit cap.
    """
    try:
        if fmt == "png":
            # IHDR must be the first chunk: length(4) type(4) width(4) height(4).
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if fmt == "webp":
            return _webp_size(data)
        return _jpeg_size(data)
    except (struct.error, IndexError):
        return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # frame tag(3), start code 9d 01 2a, then 14-bit width and height.
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        if len(data) < 30:
            return None
        # 24-bit little-endian canvas width-1 and height-1 after flags(1) + reserved(3).
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments up to the first SOFn; None if the scan starts first."""
    i = 2
    end = len(data)
    while i < end:
        if data[i] != 0xFF:
            return None
        while i < end and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= end:
            return None
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan without a frame header
            return None
        (length,) = struct.unpack(">H", data[i : i + 2])
        if marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return width, height
        i += length
    return None


def _too_large(label: str, width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"{label} is too large: {width}×{height} pixels "
        f"(at most {max_pixels / 1_000_000:.1f} megapixels)."
    )


def open_image(
    data: bytes, *, max_pixels: int, label: str, load: bool
) -> tuple[Image.Image, ImageFormat]:
    """Open (and with ``load`` fully decode) untrusted bytes, or raise a user-safe ImageError."""
    if not data:
        raise ImageError(f"{label} is empty.")
    fmt = sniff_image_type(data)
    if fmt is None:
        raise ImageError(f"{label} is not a PNG, JPEG or WebP image.")
    size = _header_size(data, fmt)
    if size is None:
        raise ImageError(f"{label} is corrupt or truncated.")
    if size[0] * size[1] > max_pixels:
        raise _too_large(label, *size, max_pixels)
    try:
        img = Image.open(io.BytesIO(data), formats=[_PILLOW_NAMES[fmt]])
        # Re-check with Pillow's idea of the size.
        if img.width * img.height > max_pixels:
            raise _too_large(label, img.width, img.height, max_pixels)
        if load:
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's process-wide guard (only reachable with max_pixels above its limit).
        raise ImageError(f"{label} is too large.") from exc
    except Exception as exc:  # any failure decoding untrusted bytes means they're broken
        raise ImageError(f"{label} is corrupt or truncated.") from exc
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

    Fully decodes it (``verify()`` misses truncated JPEGs). Raises :class:`ImageError` whose
    message starts with ``label`` and says "is empty", "is not a PNG, JPEG or WebP image",
    "is corrupt or truncated" or "is too large: W×H pixels".
    """
    img, fmt = open_image(data, max_pixels=max_pixels, label=label, load=True)
    width, height = display_size(img)
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


async def inspect_image_async(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """:func:`inspect_image` in a worker thread."""
    return await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels, label=label)
