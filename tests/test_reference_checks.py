"""Reference images are checked within a known memory cost, and the post-permission rules."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import discord
import pytest
from PIL import Image, JpegImagePlugin, PngImagePlugin

from bot.core.errors import ImageError, PermissionDeniedError
from bot.discord.attachments import DecodeLimiter
from bot.discord.checks import check_post_permissions
from bot.images.validate import DECODE_BUDGET, decode_cost, inspect_image


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def interlaced_png(width: int, height: int, raw_bytes: int) -> bytes:
    """An Adam7 RGB PNG whose stream inflates to ``raw_bytes`` zero bytes (filter "none")."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(raw_bytes)))
        + png_chunk(b"IEND", b"")
    )


def adam7_bytes(width: int, height: int) -> int:
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
    total = 0
    for x0, y0, dx, dy in (*passes, (0, 1, 1, 2)):
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + columns * 3)
    return total


def test_a_jpeg_is_decoded_at_an_eighth_of_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[tuple[int, int]] = []
    real = JpegImagePlugin.JpegImageFile.load

    def load(self: JpegImagePlugin.JpegImageFile) -> object:
        decoded.append(self.size)
        return real(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    info = inspect_image(encode(Image.new("RGB", (2048, 1024), "navy"), "JPEG"))
    assert (info.width, info.height) == (2048, 1024)
    assert decoded == [(256, 128)]


def test_a_png_is_checked_without_decoding_its_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: PngImagePlugin.PngImageFile) -> None:
        raise AssertionError("the whole PNG was decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", refuse)
    data = encode(Image.new("RGBA", (1500, 1000), "navy"), "PNG")
    assert inspect_image(data).width == 1500
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(ImageError, match="is corrupt or truncated"):
        inspect_image(bytes(damaged))


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (13, 9), (100, 37)])
def test_an_interlaced_png_must_hold_every_pass(width: int, height: int) -> None:
    exact = adam7_bytes(width, height)
    assert inspect_image(interlaced_png(width, height, exact)).width == width
    with pytest.raises(ImageError, match="is corrupt or truncated"):
        inspect_image(interlaced_png(width, height, exact - 1))


def test_a_huge_png_costs_a_few_mebibytes_to_check() -> None:
    header = struct.pack(">IIBBBBB", 8192, 8192, 8, 6, 0, 0, 0)
    claimed = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
    assert decode_cost(claimed, label="x") < 4 * 2**20


def test_a_progressive_jpeg_too_costly_to_decode_is_refused_clearly() -> None:
    small = encode(Image.new("RGB", (64, 64)), "JPEG", progressive=True, subsampling=0)
    assert decode_cost(small, label="x") < DECODE_BUDGET
    sof = small.index(b"\xff\xc2")
    huge = bytearray(small)
    huge[sof + 5 : sof + 9] = struct.pack(">HH", 8000, 8100)  # height, width
    with pytest.raises(ImageError) as caught:
        decode_cost(bytes(huge), label="`p.jpg`")
    message = caught.value.user_message
    assert message.startswith("`p.jpg` is too large: 8100×8000 pixels")
    assert "megapixels for a progressive JPEG" in message


async def test_the_limiter_keeps_within_its_slots_and_budget() -> None:
    limiter = DecodeLimiter(slots=2, budget=100)
    peak_running = peak_reserved = 0
    gates = [asyncio.Event() for _ in range(5)]

    async def check(cost: int, gate: asyncio.Event) -> None:
        nonlocal peak_running, peak_reserved
        async with limiter.hold(cost):
            peak_running = max(peak_running, limiter.running)
            peak_reserved = max(peak_reserved, limiter.reserved)
            await gate.wait()

    tasks = [
        asyncio.create_task(check(cost, gate))
        for cost, gate in zip((60, 60, 10, 10, 100), gates, strict=True)
    ]
    for gate in gates:
        await asyncio.sleep(0)
        gate.set()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert peak_running <= 2
    assert peak_reserved <= 100
    assert (limiter.running, limiter.reserved) == (0, 0)


def test_in_a_thread_the_member_needs_send_messages_in_threads() -> None:
    bot = discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
    )
    member = discord.Permissions(send_messages_in_threads=True, embed_links=True, attach_files=True)
    check_post_permissions(bot=bot, member=member, thread=True)
    member_outside = discord.Permissions(send_messages=True, embed_links=True, attach_files=True)
    with pytest.raises(PermissionDeniedError, match=r"(?i)send messages in threads"):
        check_post_permissions(bot=bot, member=member_outside, thread=True)
    with pytest.raises(PermissionDeniedError, match="You can't post images"):
        check_post_permissions(bot=bot, member=member, thread=False)
