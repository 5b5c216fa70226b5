"""Image formats and sizes from the bytes alone: magic bytes and header dimensions, no Pillow.

Our own small parser reads the dimensions so a decompression bomb is refused before Pillow
allocates anything (its WebP opener allocates the whole canvas), against an explicit
``max_pixels`` rather than the process-wide ``Image.MAX_IMAGE_PIXELS``, which we never modify.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Literal

from bot.core.errors import ImageError
from bot.core.localizable import N_

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

_JPEG_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
#: SOFn of progressive frames: libjpeg keeps every DCT coefficient of the image in memory
_JPEG_PROGRESSIVE_MARKERS: Final = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


def checked_header(data: bytes, *, max_pixels: int, label: str) -> tuple[ImageFormat, int, int]:
    """The format and stored width and height of untrusted bytes, from the header alone.

    Raises a user-safe :class:`ImageError` for empty bytes, an unknown format, a broken
    header or more than ``max_pixels`` pixels.
    """
    if not data:
        raise ImageError(N_("{label} is empty."), label=label)
    fmt = sniff_image_type(data)
    if fmt is None:
        raise ImageError(N_("{label} is not a PNG, JPEG or WebP image."), label=label)
    size = header_size(data, fmt)
    if size is None:
        raise ImageError(N_("{label} is corrupt or truncated."), label=label)
    width, height = size
    if width * height > max_pixels:
        raise too_large(label, width, height, max_pixels)
    return fmt, width, height


def too_large(label: str, width: int, height: int, max_pixels: int) -> ImageError:
    """The error for an image over the pixel cap."""
    return ImageError(
        N_("{label} is too large: {width}×{height} pixels (at most {most} megapixels)."),
        label=label,
        width=str(width),
        height=str(height),
        most=round(max_pixels / 1_000_000, 1),
    )


def header_size(data: bytes, fmt: ImageFormat) -> tuple[int, int] | None:
    """Stored pixel dimensions from the header alone, or None when the header is broken."""
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
    """Width and height from the first SOFn; None if the scan starts first."""
    frame = jpeg_frame(data)
    return None if frame is None else (frame.width, frame.height)


@dataclass(frozen=True)
class JpegFrame:
    """A JPEG's frame header (its first SOFn)."""

    marker: int
    width: int
    height: int
    #: (horizontal, vertical) sampling factors of each component
    sampling: tuple[tuple[int, int], ...]

    @property
    def progressive(self) -> bool:
        return self.marker in _JPEG_PROGRESSIVE_MARKERS


def jpeg_frame(data: bytes) -> JpegFrame | None:
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
            # length(2) precision(1) height(2) width(2) count(1), then id, HV, table each
            height, width, count = struct.unpack(">HHB", data[i + 3 : i + 8])
            factors = data[i + 8 : i + 8 + 3 * count]
            sampling = tuple((b >> 4, b & 0x0F) for b in factors[1::3])
            return JpegFrame(marker, width, height, sampling)
        i += length
    return None
