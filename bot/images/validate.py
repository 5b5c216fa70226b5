"""Image bytes: sniffing the format and validating untrusted images.

Everything here is pure and synchronous (bytes in, answers out) so it can run in a worker
thread; :func:`inspect_image_async` does exactly that with :func:`asyncio.to_thread`,
because decoding a 4096×4096 image takes hundreds of milliseconds of CPU that must never
run on the event loop. Fitting results under Discord's upload limit is ``bot.images.fit``.

Untrusted bytes are checked in this order: magic bytes, then the dimensions read from
the header by our own small parser (so a decompression bomb is refused before Pillow
allocates anything, against an explicit ``max_pixels`` rather than the process-wide
``Image.MAX_IMAGE_PIXELS``, which we never modify), then the memory the check will need
(:func:`decode_cost`), then a decode bounded by it (never a full-size PNG or JPEG frame).
"""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from dataclasses import dataclass
from typing import Final, Literal

from PIL import ExifTags, Image

from bot.core.errors import ImageError

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
#: SOFn of progressive frames: libjpeg keeps every DCT coefficient of the image in memory
_JPEG_PROGRESSIVE_MARKERS: Final = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


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
    """Width and height from the first SOFn; None if the scan starts first."""
    frame = _jpeg_frame(data)
    return None if frame is None else (frame.width, frame.height)


@dataclass(frozen=True)
class _JpegFrame:
    marker: int
    width: int
    height: int
    #: (horizontal, vertical) sampling factors of each component
    sampling: tuple[tuple[int, int], ...]

    @property
    def progressive(self) -> bool:
        return self.marker in _JPEG_PROGRESSIVE_MARKERS


def _jpeg_frame(data: bytes) -> _JpegFrame | None:
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
            return _JpegFrame(marker, width, height, sampling)
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


# ------------------------------------------------------------------ bounded validation

#: The most working memory one check may need; ``bot.discord.attachments`` also keeps the checks
#: running at once within it, bot-wide. A PNG or baseline JPEG never comes close (below);
#: a WebP or progressive JPEG whose full decode would need more is refused as too large.
DECODE_BUDGET: Final = 192 * 2**20

#: PNG: inflate at most this many bytes at a time
_INFLATE_STEP: Final = 1 << 20
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Adam7 passes: first column, first row, column step, row step
_ADAM7: Final = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def decode_cost(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str) -> int:
    """Bytes of working memory :func:`inspect_image` needs for ``data``, from its header.

    Raises the same user-safe errors as :func:`inspect_image` for what the header alone
    shows (not an image, corrupt header, too many pixels, too costly to decode).
    """
    if not data:
        raise ImageError(f"{label} is empty.")
    fmt = sniff_image_type(data)
    if fmt is None:
        raise ImageError(f"{label} is not a PNG, JPEG or WebP image.")
    size = _header_size(data, fmt)
    if size is None:
        raise ImageError(f"{label} is corrupt or truncated.")
    width, height = size
    if width * height > max_pixels:
        raise _too_large(label, width, height, max_pixels)
    if fmt == "png":
        # streamed (see _check_png_stream): an inflate step, its output, and a row or two
        return 3 * _INFLATE_STEP + 2 * 8 * width
    if fmt == "webp":
        # Pillow's WebP decoder: its canvas, the frame copied out, then the image itself
        cost = 3 * 4 * width * height
        kind, instead = "a WebP image", "PNG or JPEG"
    else:
        frame = _jpeg_frame(data)
        # decoded at 1/8 scale (Image.draft), 4 bytes a pixel
        cost = -(-width // 8) * -(-height // 8) * 4 + _INFLATE_STEP
        if frame is None or not frame.progressive:
            return cost
        cost += _coefficient_bytes(frame)
        kind, instead = "a progressive JPEG", "PNG or baseline JPEG"
    if cost > DECODE_BUDGET:
        most = DECODE_BUDGET * width * height // cost
        raise ImageError(
            f"{label} is too large: {width}×{height} pixels (at most "
            f"{most / 1_000_000:.1f} megapixels for {kind}; save it as {instead} to send "
            "it this size)."
        )
    return cost


def _coefficient_bytes(frame: _JpegFrame) -> int:
    """What libjpeg holds for a progressive image: 2 bytes per DCT coefficient, all blocks."""
    if not frame.sampling:
        return 3 * 2 * frame.width * frame.height
    h_max = max(max(h for h, _ in frame.sampling), 1)
    v_max = max(max(v for _, v in frame.sampling), 1)
    total = 0
    for h, v in frame.sampling:
        columns = -(-frame.width * h // (8 * h_max))
        rows = -(-frame.height * v // (8 * v_max))
        total += columns * rows * 64 * 2
    return total


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
        if not _check_png_stream(data):
            raise ImageError(f"{label} is corrupt or truncated.")
    else:
        if fmt == "jpeg":
            img.draft(None, (1, 1))  # libjpeg's smallest scale, 1/8
        try:
            img.load()
        except Exception as exc:  # any failure decoding untrusted bytes means they're broken
            raise ImageError(f"{label} is corrupt or truncated.") from exc
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


def _png_row_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Bytes the IDAT stream inflates to: each row's filter byte plus its packed pixels."""
    total = 0
    for x0, y0, dx, dy in _ADAM7 if interlaced else ((0, 0, 1, 1),):
        columns = -(-(width - x0) // dx)
        rows = -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _check_png_stream(data: bytes) -> bool:
    """Every chunk's CRC matches, IEND ends the file and the IDAT stream inflates to the
    size the header promises; memory stays within a few inflate steps whatever the size."""
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if color not in _PNG_CHANNELS or interlace > 1:
        return False
    expected = _png_row_bytes(width, height, depth * _PNG_CHANNELS[color], interlace == 1)
    inflater = zlib.decompressobj()
    inflated = 0
    view = memoryview(data)
    pos = 8
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            return False
        if zlib.crc32(view[pos + 4 : end]) != int.from_bytes(view[end : end + 4], "big"):
            return False
        if kind == b"IEND":
            return inflated >= expected
        if kind == b"IDAT" and inflated < expected:
            pending: bytes | memoryview = view[pos + 8 : end]
            try:
                while pending and inflated < expected:
                    inflated += len(inflater.decompress(pending, _INFLATE_STEP))
                    pending = inflater.unconsumed_tail
            except zlib.error:
                return False
        pos = end + 4
    return False


async def inspect_image_async(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """:func:`inspect_image` in a worker thread."""
    return await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels, label=label)
