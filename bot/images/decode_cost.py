"""What checking an image costs: the working memory from its header, and the streamed PNG check.

A PNG or baseline JPEG never comes close to :data:`DECODE_BUDGET` (below); a WebP or
progressive JPEG whose full decode would need more is refused as too large, before any
decoding starts.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from bot.core.errors import ImageError
from bot.core.localizable import N_
from bot.images.headers import DEFAULT_MAX_PIXELS, JpegFrame, checked_header, jpeg_frame

#: The most working memory one check may need; ``bot.discord.attachments`` also keeps the checks
#: running at once within it, bot-wide.
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
    """Bytes of working memory ``inspect_image`` needs for ``data``, from its header.

    Raises the same user-safe errors as ``bot.images.validate.inspect_image`` for what the
    header alone shows (not an image, corrupt header, too many pixels, too costly to decode).
    """
    fmt, width, height = checked_header(data, max_pixels=max_pixels, label=label)
    if fmt == "png":
        # streamed (see check_png_stream): an inflate step, its output, and a row or two
        return 3 * _INFLATE_STEP + 2 * 8 * width
    if fmt == "webp":
        # Pillow's WebP decoder: its canvas, the frame copied out, then the image itself
        cost = 3 * 4 * width * height
        too_large = N_(
            "{label} is too large: {width}×{height} pixels (at most {most} megapixels for a "
            "WebP image; save it as PNG or JPEG to send it this size)."
        )
    else:
        frame = jpeg_frame(data)
        # decoded at 1/8 scale (Image.draft), 4 bytes a pixel
        cost = -(-width // 8) * -(-height // 8) * 4 + _INFLATE_STEP
        if frame is None or not frame.progressive:
            return cost
        cost += _coefficient_bytes(frame)
        too_large = N_(
            "{label} is too large: {width}×{height} pixels (at most {most} megapixels for a "
            "progressive JPEG; save it as PNG or baseline JPEG to send it this size)."
        )
    if cost > DECODE_BUDGET:
        most = DECODE_BUDGET * width * height // cost
        raise ImageError(
            too_large,
            label=label,
            width=str(width),
            height=str(height),
            most=round(most / 1_000_000, 1),
        )
    return cost


def _coefficient_bytes(frame: JpegFrame) -> int:
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


def _png_row_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Bytes the IDAT stream inflates to: each row's filter byte plus its packed pixels."""
    total = 0
    for x0, y0, dx, dy in _ADAM7 if interlaced else ((0, 0, 1, 1),):
        columns = -(-(width - x0) // dx)
        rows = -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def check_png_stream(data: bytes) -> bool:
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
