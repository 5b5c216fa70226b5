"""Benchmark: fit a 4096×4096 photo-like PNG under 10 MiB, and watch the event loop meanwhile.

Run with ``.venv/bin/python -m bench.bench_image_fit [--runs N] [--side PX]``. Not part of
the test suite. Prints the median wall time of :func:`bot.images.fit.fit_images_async`, the
rung it took, the output size, and the event loop's lag measured by a 5 ms ticker, then a
``RESULT`` line against the targets (median ≤ 1.5 s, loop lag p99 ≤ 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time

from PIL import Image

from bench.support import print_header, verdict
from bot.images.fit import FittedImage, fit_images_async

TICK = 0.005
TARGET_SECONDS = 1.5
TARGET_LAG_P99 = 0.050


def photo_like_png(side: int) -> bytes:
    """Smooth colour gradients plus strong gaussian grain: compresses like a noisy photo."""
    ramp = Image.linear_gradient("L").resize((side, side))
    base = Image.merge(
        "RGB", (ramp, ramp.rotate(90), ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    grain = Image.effect_noise((side, side), 40)
    noise = Image.merge("RGB", (grain, grain.rotate(90), grain.rotate(180)))
    buf = io.BytesIO()
    Image.blend(base, noise, 0.3).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


async def one_run(png: bytes, limit: int) -> tuple[float, FittedImage, list[float]]:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            lags.append(loop.time() - before - TICK)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(TICK * 2)  # let the ticker settle
    start = time.perf_counter()
    [fitted] = await fit_images_async([png], limit, stem="bench")
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    return elapsed, fitted, lags


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--side", type=int, default=4096)
    parser.add_argument("--limit-mib", type=float, default=10.0, help="per-file limit")
    args = parser.parse_args()
    limit = int(args.limit_mib * 2**20)
    print_header("image fitting", "bench.bench_image_fit", args)

    png = photo_like_png(args.side)
    size_mib = len(png) / 2**20
    print(f"input: {args.side}×{args.side} PNG, {size_mib:.1f} MiB; limit {args.limit_mib:g} MiB")
    assert len(png) > limit, "the input must not fit already"
    times: list[float] = []
    all_lags: list[float] = []
    fitted: FittedImage | None = None
    for i in range(args.runs):
        elapsed, fitted, lags = await one_run(png, limit)
        times.append(elapsed)
        all_lags.extend(lags)
        print(f"run {i + 1}: {elapsed:.3f} s, loop lag max {max(lags) * 1000:.1f} ms")
    assert fitted is not None
    print(
        f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})"
        f"; rung {fitted.rung}; {fitted.size_bytes:,} bytes "
        f"({fitted.size_bytes / 2**20:.2f} MiB), {fitted.width}×{fitted.height} {fitted.format}"
    )
    median, lag_p99 = statistics.median(times), percentile(all_lags, 99)
    print(
        f"event loop lag over {len(all_lags)} ticks of {TICK * 1000:.0f} ms: "
        f"p99 {lag_p99 * 1000:.1f} ms, max {max(all_lags) * 1000:.1f} ms"
    )
    print(
        f"RESULT image fit {args.side}×{args.side}: median {median:.3f} s "
        f"(target ≤ {TARGET_SECONDS:g} s: {verdict(median <= TARGET_SECONDS)}); "
        f"loop lag p99 {lag_p99 * 1000:.1f} ms "
        f"(target ≤ {TARGET_LAG_P99 * 1000:.0f} ms: {verdict(lag_p99 <= TARGET_LAG_P99)})"
    )


if __name__ == "__main__":
    asyncio.run(main())
