"""Benchmark: drawing the ``/quota usage`` chart, and what it costs the event loop meanwhile.

Run with ``.venv/bin/python -m bench.bench_usage_chart [--rounds 20] [--days 90]``. Not part
of the test suite. The chart (``bot.discord.usage_chart.usage_png``) is drawn for the worst
report a moderator can ask for: ``--days`` UTC days, five providers on every day, ten top
members, a budget line, Japanese labels by default (``--locale``).
Each round draws it as the cog does (``draw_in_child``: a spawned child process; ``--mode
thread`` for ``asyncio.to_thread`` instead) while a 10 ms ticker in the event loop records
how late it wakes (matplotlib holds the GIL for much of its work, so a thread is not free
for the loop).

Targets: p95 render ≤ 3 s (a child process starts and imports matplotlib each time); worst
loop lateness during a render ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import date, timedelta

from bench.support import percentile, print_header, verdict
from bot.core.accounts import UsageReport, UsageTotals
from bot.discord.chart_process import draw_in_child
from bot.discord.usage_chart import usage_png
from bot.i18n.catalogs import Catalogs

RENDER_TARGET_S = 3.0
LAG_TARGET_MS = 100.0
TICK = 0.010


def worst_report(days: int) -> UsageReport:
    since = date(2025, 1, 1)
    providers = ("apikley", "apiyi", "ark", "pixazo", "poyo")
    per_day = tuple(
        (since + timedelta(days=d), name, 1 + (d * 7 + i * 3) % 40)
        for d in range(days)
        for i, name in enumerate(providers)
    )
    top = tuple((1000 + i, 500 - 40 * i) for i in range(10))
    return UsageReport(1, since, days, UsageTotals(9999, 4000, 12), top, {}, per_day)


async def one_round(
    report: UsageReport, names: dict[int, str], locale: str, mode: str
) -> tuple[float, float]:
    texts = Catalogs([locale]).pick(locale)
    worst_lag = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst_lag
        while not done.is_set():
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            worst_lag = max(worst_lag, time.perf_counter() - due)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    if mode == "thread":
        await asyncio.to_thread(usage_png, report, texts, budget=120, names=names)
    else:
        await draw_in_child(report, texts, budget=120, names=names)
    elapsed = time.perf_counter() - started
    done.set()
    await ticking
    return elapsed, worst_lag * 1000


async def run(args: argparse.Namespace) -> None:
    report = worst_report(args.days)
    names = {user_id: f"member-{user_id}" for user_id, _ in report.top_users}
    await one_round(report, names, args.locale, "thread")  # warm-up: imports, font cache
    renders, lags = [], []
    for _ in range(args.rounds):
        elapsed, lag = await one_round(report, names, args.locale, args.mode)
        renders.append(elapsed)
        lags.append(lag)
    p50, p95 = percentile(renders, 50), percentile(renders, 95)
    worst = max(lags)
    print(f"render   p50 {p50:.3f} s  p95 {p95:.3f} s  (target p95 ≤ {RENDER_TARGET_S} s)")
    print(f"loop lag worst {worst:.1f} ms, p50 of rounds {percentile(lags, 50):.1f} ms "
          f"(target ≤ {LAG_TARGET_MS:.0f} ms)")  # fmt: skip
    print(
        f"RESULT usage chart ({args.mode}), {args.days} days × 5 providers: render p95 {p95:.3f} s "
        f"({verdict(p95 <= RENDER_TARGET_S)}); worst loop lag {worst:.1f} ms "
        f"({verdict(worst <= LAG_TARGET_MS)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20, help="renders timed")
    parser.add_argument("--days", type=int, default=90, help="days in the report")
    parser.add_argument("--locale", default="ja", help="the labels' language")
    parser.add_argument(
        "--mode", choices=("child", "thread"), default="child", help="child: what the bot does"
    )
    args = parser.parse_args()
    print_header("usage chart", "bench.bench_usage_chart", args)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
