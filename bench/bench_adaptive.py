"""Benchmark: adaptive provider concurrency and submit pacing, the bot with DEFAULT settings.

Run with ``.venv/bin/python -m bench.bench_adaptive [--scenarios burst,limit,rate]``. Not part of
the test suite. The bot runs in its own process (``bench.bothost``) with every setting at its
default (``PROVIDER_CONCURRENCY``, ``MAX_JOBS_PER_USER``, ``DEFAULT_DAILY_QUOTA``); the fake
Discord and the fake provider run here, callbacks on (``PUBLIC_URL`` set).

* ``burst``: 20 members send one ``/imagine`` each at once; the provider (PoYo) has no limit and
  tasks of 5 s. Figure: first command → last result posted. Target ≤ 6.5 s (1.3 × task).
* ``limit``: the provider refuses (429) a submit while 12 of its tasks run; 100 jobs from 50
  members, tasks of 10 s. Figures: jobs failed (target 0); share of submits answered 429 after
  the first 30 s (target ≤ 10 %); makespan over the ideal for 12 slots, 100 × 10 s / 12
  (target ≤ 1.2).
* ``rate``: Apikley (its documented rate: 20 new tasks per 10 s) whose fake refuses the 21st
  submit in any 10 s; a burst of 60 jobs from 30 members, tasks of 5 s. Figures: jobs failed
  (target 0), share of submits answered 429 (target ≤ 5 %).
"""

from __future__ import annotations

import argparse
import asyncio

from bench.adaptive_support import run_round
from bench.support import (
    DEFAULTS,
    add_members,
    bot_cpu,
    bot_process,
    fakes,
    print_header,
    verdict,
)
from tests.providers.fakes import Script

SCENARIOS = ("burst", "limit", "rate")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--latency", type=float, default=0.1, help="provider API latency, s")
    return parser.parse_args()


async def burst(args: argparse.Namespace) -> str:
    task = 5.0
    script = Script(latency=args.latency, finish_after=task)
    async with fakes(latency=args.latency, finish_after=task, script=script) as (d, p, stamps):
        members = add_members(d, 20)
        async with bot_process(d, p, callbacks=True, limits=DEFAULTS) as bot:
            result = await run_round(d, stamps, members, 20, label="burst", timeout=120)
            failed = bot.count_log(": failed: ")
        print(
            f"burst: {len(result.delivered)} of 20 delivered; "
            f"provider peak in flight {p.peak_in_flight}"
        )
        print(bot_cpu(bot))
    last = max(result.delivered.values()) - min(result.dispatched.values())
    target = 1.3 * task
    return (
        f"RESULT burst 20 × 1 job, task {task:g} s: last result after {last:.2f} s "
        f"(target ≤ {target:.1f} s: {verdict(last <= target and not failed)}); jobs failed {failed}"
    )


async def limit(args: argparse.Namespace) -> str:
    task, slots, jobs = 10.0, 12, 100
    script = Script(latency=args.latency, finish_after=task, max_in_flight=slots)
    async with fakes(latency=args.latency, finish_after=task, script=script) as (d, p, stamps):
        members = add_members(d, 50)
        async with bot_process(d, p, callbacks=True, limits=DEFAULTS) as bot:
            result = await run_round(d, stamps, members, jobs, label="limit", timeout=600)
            failed = bot.count_log(": failed: ")
        print(bot_cpu(bot))
    start = min(result.dispatched.values())
    makespan = max(result.delivered.values()) - start
    ideal = jobs * task / slots
    later = [status for at, status in p.submits if at >= start + 30]
    refused_later = sum(1 for status in later if status == 429)
    refused_all = sum(1 for _, status in p.submits if status == 429)
    share = refused_later / len(later) if later else 0.0
    print(
        f"limit: {len(result.delivered)} of {jobs} delivered; submits {len(p.submits)}, "
        f"429 {refused_all} in all, {refused_later} of {len(later)} after the first 30 s; "
        f"provider peak in flight {p.peak_in_flight}; "
        f"makespan {makespan:.1f} s, ideal {ideal:.1f} s"
    )
    ok = not failed and not result.missing and share <= 0.10 and makespan <= 1.2 * ideal
    return (
        f"RESULT limit 12 in flight, 100 jobs: failed {failed + result.missing} (target 0); "
        f"429 after 30 s {share:.1%} (target ≤ 10 %); makespan {makespan:.1f} s = "
        f"{makespan / ideal:.2f} × ideal {ideal:.1f} s (target ≤ 1.2): {verdict(ok)}"
    )


async def rate(args: argparse.Namespace) -> str:
    task, jobs = 5.0, 60
    script = Script(latency=args.latency, finish_after=task, submit_rate=(20, 10.0))
    async with fakes(latency=args.latency, finish_after=task, flavor="apikley", script=script) as (
        d,
        p,
        stamps,
    ):
        members = add_members(d, 30)
        async with bot_process(d, p, callbacks=True, limits=DEFAULTS) as bot:
            result = await run_round(d, stamps, members, jobs, label="rate", timeout=300)
            failed = bot.count_log(": failed: ")
        print(bot_cpu(bot))
    refused = sum(1 for _, status in p.submits if status == 429)
    share = refused / len(p.submits) if p.submits else 0.0
    span = max(result.delivered.values()) - min(result.dispatched.values())
    print(
        f"rate: {len(result.delivered)} of {jobs} delivered in {span:.1f} s; "
        f"submits {len(p.submits)}, answered 429: {refused}"
    )
    ok = not failed and not result.missing and share <= 0.05
    return (
        f"RESULT rate 20 per 10 s, burst of 60: failed {failed + result.missing} (target 0); "
        f"429 {share:.1%} of submits (target ≤ 5 %): {verdict(ok)}"
    )


async def main() -> None:
    args = parse_args()
    print_header("adaptive concurrency and pacing", "bench.bench_adaptive", args)
    runs = {"burst": burst, "limit": limit, "rate": rate}
    lines = [await runs[name.strip()](args) for name in args.scenarios.split(",") if name.strip()]
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
