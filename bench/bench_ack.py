"""Benchmark: how fast the bot acknowledges an interaction while many jobs are in flight.

Run with ``.venv/bin/python -m bench.bench_ack [--jobs 200] [--probes 100] ...``. Not part of
the test suite. The real bot runs in a child process (``bench.bothost``) against the fake
Discord and a fake PoYo in this process (see ``bench/support.py``). First ``--jobs``
``/imagine`` interactions arrive at ``--rate`` per second and are all submitted to the provider,
whose tasks take ``--task-seconds`` (long: they stay in flight); then ``--probes`` more
``/imagine`` interactions arrive one every ``--probe-gap`` seconds. Acknowledgement latency is
the time from the fake gateway sending ``INTERACTION_CREATE`` to the fake receiving the bot's
interaction callback (``/imagine`` defers first). Target: p99 ≤ 50 ms for the probes.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.support import (
    LoopLag,
    add_members,
    bot_cpu,
    bot_lag,
    bot_process,
    dispatch_imagines,
    fakes,
    finish_profile,
    lag_between,
    mib,
    percentile,
    print_header,
    profile,
    summary_ms,
    verdict,
    wait_until,
)

TARGET_P99 = 0.050


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200, help="jobs kept in flight")
    parser.add_argument("--probes", type=int, default=200, help="interactions measured")
    parser.add_argument("--probe-gap", type=float, default=0.1, help="seconds between probes")
    parser.add_argument("--rate", type=float, default=50.0, help="interactions/s while loading")
    parser.add_argument("--members", type=int, default=20, help="members sending commands")
    parser.add_argument("--latency", type=float, default=0.1, help="provider API latency, s")
    parser.add_argument("--task-seconds", type=float, default=90.0, help="provider task time")
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    print_header("acknowledgement latency", "bench.bench_ack", args)
    async with fakes(latency=args.latency, finish_after=args.task_seconds) as (
        discord,
        provider,
        stamps,
    ):
        members = add_members(discord, args.members)
        driver = LoopLag()
        driver.start()
        async with bot_process(discord, provider) as bot:
            print(f"bot process pid {bot.pid} ready; RSS {mib(bot.ready_vm.get('VmRSS', 0))}")
            load_start = time.monotonic()
            load = await dispatch_imagines(discord, members, args.jobs, rate=args.rate)
            await wait_until(
                lambda: len(provider.tasks) >= args.jobs,
                timeout=60 + args.jobs / 10,
                what=f"{args.jobs} jobs submitted to the provider",
            )
            loaded = time.monotonic()
            print(f"{args.jobs} jobs submitted in {loaded - load_start:.1f} s; probing")
            spy = await profile(bot, args.probes * args.probe_gap)
            probes = await dispatch_imagines(
                discord, members, args.probes, rate=1 / args.probe_gap, label="probe"
            )
            await wait_until(
                lambda: all(h.id in stamps.acked for h in probes), timeout=30, what="probe acks"
            )
            probed = time.monotonic()
            await finish_profile(spy)
            in_flight = sum(1 for task in provider.tasks.values() if not task.forced)
            finished_early = sum(1 for task in provider.tasks.values() if task.forced)
        await driver.stop()

    def latencies(handles: list) -> list[float]:  # type: ignore[type-arg]
        return [
            stamps.acked[h.id] - stamps.dispatched[h.id]
            for h in handles
            if h.id in stamps.acked and h.id in stamps.dispatched
        ]

    load_acks = latencies(load)
    probe_acks = latencies(probes)
    print(
        f"provider tasks in flight at the end of probing: {in_flight} (finished: {finished_early})"
    )
    print(f"ack while loading ({args.rate:g}/s arriving): {summary_ms(load_acks)}")
    print(f"ack with ≥{args.jobs} jobs in flight (probes): {summary_ms(probe_acks)}")
    print(f"bot loop lag while probing: {summary_ms(bot_lag(bot, loaded, probed))}")
    print(f"bot loop lag while loading: {summary_ms(bot_lag(bot, load_start, loaded))}")
    print(
        "driver (fakes) loop lag while probing: "
        f"{summary_ms(lag_between(driver.samples, loaded, probed))}"
    )
    print(bot_cpu(bot))
    p99 = percentile(probe_acks, 99)
    print(
        f"RESULT ack p50 {percentile(probe_acks, 50) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"(target ≤ {TARGET_P99 * 1000:.0f} ms: {verdict(p99 <= TARGET_P99)})"
    )


if __name__ == "__main__":
    asyncio.run(main())
