"""Benchmark: ten 8192×8192 reference images through the reply door — the bot's peak memory.

Run with ``.venv/bin/python -m bench.bench_references [--formats png,jpeg] [--side 8192]``.
Not part of the test suite. For each format a fresh bot runs alone in a child process
(``bench.bothost``: the real ``seedream-bot run`` start-up); the fake Discord, which serves
the images from its CDN, and the fake PoYo run in this process, so the images count only
where the bot downloads and checks them.

Per format: one small ``/edit`` warms the bot up (Pillow's plugins, the worker threads);
then VmRSS is read, and a member replies ``@bot make them purple`` to a message carrying ten
side×side images of that format (distinct content, several MB each, under the 10 MB
limit). When the job reaches the provider (all ten downloaded and checked), VmHWM — the
process's peak RSS — is read. The figure is VmHWM after minus VmRSS before: how far the
ten references raised the bot's memory at its worst moment. Target: ≤ 300 MB for every format.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import random
import struct
import time
import zlib
from collections.abc import Callable

from PIL import Image

from bench.support import bot_process, fakes, mib, print_header, verdict, wait_until
from tests.providers.fakes import make_image

TARGET_MB = 300
COUNT = 10


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png(side: int, index: int) -> bytes:
    """An RGB PNG of about 8 MB: every 28th row is random, the rows after it repeat it."""
    rng = random.Random(index)
    packer = zlib.compressobj(6)
    parts: list[bytes] = []
    row = b""
    for y in range(side):
        if y % 28 == 0:
            row = b"\x00" + rng.randbytes(side * 3)
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


@functools.cache
def _grain(side: int) -> Image.Image:
    ramp = Image.linear_gradient("L").resize((side, side))
    base = Image.merge("RGB", (ramp, ramp.rotate(90), ramp.rotate(180)))
    grain = Image.effect_noise((side, side), 40)
    return Image.blend(base, Image.merge("RGB", (grain, grain.rotate(90), grain)), 0.1)


def jpeg(side: int, index: int) -> bytes:
    """A baseline JPEG of a grainy gradient (several MB), shifted per ``index``."""
    img = _grain(side).rotate(90 * (index % 4)).point(lambda v: (v + index * 25) % 256)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


MAKERS: dict[str, tuple[Callable[[int, int], bytes], str, str]] = {
    "png": (png, "png", "image/png"),
    "jpeg": (jpeg, "jpg", "image/jpeg"),
}


async def measure(fmt: str, side: int) -> tuple[int, float]:
    """Peak RSS increase in KiB for ten ``fmt`` references, and the seconds they took."""
    make, suffix, mime = MAKERS[fmt]
    images = [(f"ref{i}.{suffix}", make(side, i), mime) for i in range(COUNT)]
    sizes = [len(data) for _, data, _ in images]
    print(f"{fmt}: ten {side}×{side} images, {min(sizes) / 2**20:.1f}–{max(sizes) / 2**20:.1f} MiB")
    async with (
        fakes(latency=0.01, finish_after=0.2) as (discord, provider, _),
        bot_process(discord, provider) as bot,
    ):
        warm = discord.add_attachment("warm.png", make_image("png"), "image/png")
        await discord.slash("edit", options={"prompt": "warm up", "image": warm})
        await wait_until(lambda: provider.count("submit") >= 1, 60, what="the warm-up job")
        await asyncio.sleep(1.0)  # let the warm-up's delivery finish
        before = bot.vm()
        original = await discord.user_message(content="references", attachments=images)
        started = time.monotonic()
        await discord.user_message(
            content=f"{discord.bot_mention} make them purple", reference=original.message
        )
        await wait_until(
            lambda: provider.count("submit") >= 2, 300, every=0.05, what="the ten-image edit"
        )
        took = time.monotonic() - started
        after = bot.vm()
        urls = provider.last("submit").body["input"]["image_urls"]
        assert len(urls) == COUNT, f"the job carried {len(urls)} references"
    rise = after["VmHWM"] - before["VmRSS"]
    print(
        f"{fmt}: RSS before {mib(before['VmRSS'])} (peak so far {mib(before['VmHWM'])}); "
        f"peak after {mib(after['VmHWM'])}; rise {mib(rise)} = {rise * 1024 / 1e6:.0f} MB; "
        f"checked in {took:.1f} s"
    )
    return rise, took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", default="png,jpeg", help="comma-separated: png, jpeg")
    parser.add_argument("--side", type=int, default=8192, help="image width and height")
    args = parser.parse_args()
    print_header("references", "bench.bench_references", args)
    results: list[str] = []
    worst = 0.0
    for fmt in filter(None, (name.strip() for name in args.formats.split(","))):
        rise, took = await measure(fmt, args.side)
        mb = rise * 1024 / 1e6
        worst = max(worst, mb)
        results.append(f"{fmt} {mb:.0f} MB in {took:.1f} s")
    print(
        f"RESULT peak RSS rise for {COUNT} {args.side}×{args.side} references: "
        f"{'; '.join(results)} (target ≤ {TARGET_MB} MB: {verdict(worst <= TARGET_MB)})"
    )


if __name__ == "__main__":
    asyncio.run(main())
