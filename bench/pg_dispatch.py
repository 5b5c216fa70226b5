"""Benchmark: dispatch across 4 bot processes on one PostgreSQL, against what the slots allow.

Run with ``.venv/bin/python -m bench.pg_dispatch [--members 16] [--jobs-per-member 8]
[--task-seconds 10] [--workers 3]``. Not part of the test suite. One ``seedream-bot run``
(the gateway, so the members' ``/imagine`` arrive there) and ``--workers`` ``seedream-bot
worker`` processes share a fresh database, with the shipped settings except what the
scenario needs: ``DATABASE_URL``, ``PUBLIC_URL`` (callbacks, each process its own) and a
daily allowance that covers each member's jobs. The fake PoYo finishes every task
``--task-seconds`` after its submit (0.1 s per API call).

What the slots allow: ``--members`` × ``MAX_JOBS_PER_USER`` (2) jobs at once (the provider's
limit, ``PROVIDER_CONCURRENCY`` 64, is above that once the adaptive limit has grown from 8),
each taking the provider's task time at best: slots / task seconds jobs per second. Every
member queues ``--jobs-per-member`` jobs at once, so every slot always has a job waiting;
the rate achieved is measured between the completion that ends the first wave (the
slots-th result posted) and the one that starts the last (total − slots), where the line
runs at its steady state. Everything a job does besides the provider's task (the submit,
the callback and the status check, the download, the post, the admission of the next job
and its claim by some process) is what keeps the rate below 100 %.

Without ``--url`` or ``TEST_DATABASE_URL`` it starts a throwaway cluster through
``scripts/_pg.sh`` (as ``scripts/test`` does). Target: at least 90 % of what the slots allow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import tempfile
import time
from pathlib import Path

from bench.pg_cluster import fresh_database, process_env, query, run_with_server
from bench.support import add_members, fakes, print_header, verdict, wait_until
from tests.botprocess import BotProcess, bot_process, wait_healthy

PER_MEMBER = 2  # MAX_JOBS_PER_USER's default
TARGET = 0.90


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--jobs-per-member", type=int, default=8)
    parser.add_argument("--task-seconds", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.1, help="per provider API call")
    parser.add_argument("--workers", type=int, default=3, help="worker processes beside run")
    parser.add_argument("--rate", type=float, default=50.0, help="/imagine per second")
    args = parser.parse_args()
    if args.jobs_per_member < 3 * PER_MEMBER:
        parser.error(f"--jobs-per-member: at least {3 * PER_MEMBER} (three waves per slot)")
    return args


async def bench(server_url: str, args: argparse.Namespace) -> int:
    total = args.members * args.jobs_per_member
    slots = args.members * PER_MEMBER
    allowed = slots / args.task_seconds
    with (
        tempfile.TemporaryDirectory(prefix="seedream-pg-dispatch-") as tmp,
        fresh_database(server_url) as db_url,
    ):
        async with fakes(latency=args.latency, finish_after=args.task_seconds) as (
            discord,
            provider,
            stamps,
        ):
            quota = str(max(args.jobs_per_member, 10))
            names = ["run"] + [f"worker{i}" for i in range(args.workers)]
            envs = {
                name: process_env(
                    Path(tmp) / name,
                    discord,
                    provider,
                    db_url,
                    DEFAULT_DAILY_QUOTA=quota,
                    MAX_DAILY_QUOTA=str(max(int(quota), 100)),
                )
                for name in names
            }
            async with contextlib.AsyncExitStack() as stack:
                bots: dict[str, BotProcess] = {}
                for name in names:
                    command = "run" if name == "run" else "worker"
                    bots[name] = await stack.enter_async_context(
                        bot_process(Path(tmp), envs[name], command)
                    )
                await discord.wait_ready(timeout=60)
                for bot in bots.values():
                    await wait_healthy(bot, timeout=90)
                members = add_members(discord, args.members)
                flights: list[tuple[float, int]] = []
                sampler = asyncio.create_task(sample_flights(db_url, flights))
                started = time.monotonic()
                for n in range(total):
                    due = started + n / args.rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    prompt = f"dispatch {n}: a lighthouse on a cliff at dusk"
                    await discord.slash(
                        "imagine", user=members[n % len(members)], options={"prompt": prompt}
                    )
                await wait_until(
                    lambda: len(stamps.files) >= total,
                    timeout=total / allowed * 3 + 120,
                    what="every result posted",
                )
                sampler.cancel()
                await asyncio.gather(sampler, return_exceptions=True)
                for bot in bots.values():
                    bot.process.send_signal(signal.SIGTERM)
                codes = [await asyncio.wait_for(b.process.wait(), 20) for b in bots.values()]
        ran = {
            name: sum(1 for line in bot.lines if ": running here from " in line)
            for name, bot in bots.items()
        }
        ledger = query(
            db_url,
            "SELECT count(*) FILTER (WHERE state = 'done'), coalesce(sum(charged), 0),"
            " (SELECT coalesce(sum(used), 0) FROM daily_usage) FROM jobs",
        )[0]
    done = sorted(stamps.files.values())
    begin, end = done[slots - 1], done[total - slots - 1]
    rate = (total - 2 * slots) / (end - begin)
    occupied = [n for at, n in flights if begin <= at <= end]
    print(
        f"{total} jobs ({args.members} members × {args.jobs_per_member}), {slots} slots, "
        f"{args.task_seconds:g} s tasks, processes: run + {args.workers} workers; "
        f"jobs run per process {ran}; exit codes {codes}"
    )
    print(
        f"ledger: {ledger[0]} done, {ledger[1]} charged, {ledger[2]} counted "
        f"(expected {total} each)"
    )
    print(
        f"steady state ({end - begin:.1f} s, results {slots} to {total - slots}): "
        f"{rate:.2f} jobs/s; the slots allow {allowed:.2f} jobs/s; jobs in flight "
        f"(the fair line) mean {statistics.fmean(occupied) if occupied else 0:.1f} of {slots}"
    )
    share = rate / allowed
    print(
        f"RESULT pg dispatch with {len(names)} processes: {share:.1%} of the throughput the "
        f"slots allow ({rate:.2f} of {allowed:.2f} jobs/s; target ≥ {TARGET:.0%}: "
        f"{verdict(share >= TARGET)})"
    )
    return 0


async def sample_flights(db_url: str, out: list[tuple[float, int]]) -> None:
    """Jobs in flight (the fair line's count), every 0.2 s."""
    while True:
        rows = await asyncio.to_thread(query, db_url, "SELECT count(*) FROM cluster_flights")
        out.append((time.monotonic(), int(str(rows[0][0]))))
        await asyncio.sleep(0.2)


def main() -> int:
    args = parse_args()

    def run(server_url: str) -> int:
        print_header("dispatch across processes on PostgreSQL", "bench.pg_dispatch", args)
        return asyncio.run(bench(server_url, args))

    return run_with_server("bench.pg_dispatch", args.url, run)


if __name__ == "__main__":
    raise SystemExit(main())
