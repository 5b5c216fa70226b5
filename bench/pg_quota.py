"""Benchmark: quota reserve-and-commit per second on PostgreSQL, from several processes.

Run with ``.venv/bin/python -m bench.pg_quota [--processes 4] [--reservers 50] [--ops 20000]``.
Not part of the test suite. Each process (``multiprocessing`` spawn) opens its own
``PgStore`` (a psycopg pool of ``--pool`` connections) and runs ``--reservers`` coroutines
sharing it, calling ``JobLedger.create``: admission, the quota reservation (row locks in
guild-then-member order, conditional updates) and the job row, in one committed
transaction; what ``JobEngine.create_job`` does in the database. The processes start
together behind a barrier; the rate is all operations over the wall time from the first
start to the last finish. Afterwards the counters must equal what the jobs reserved.

Without ``--url`` or ``TEST_DATABASE_URL`` it starts a throwaway cluster through
``scripts/_pg.sh`` (as ``scripts/test`` does) and stops it at the end.
Target: ≥ 2,000 reserve-and-commit per second with 4 processes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import subprocess
import sys
import time
from multiprocessing.synchronize import Barrier
from typing import Any

from bench.support import ROOT, percentile, print_header, verdict
from bot.core.job import JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest
from bot.jobs.ledger import JobLedger
from bot.quotas.rules import QuotaService
from bot.storage.postgres.pg_store import PgStore

GUILD = 1
TARGET_OPS = 2000
URL_ENV = "TEST_DATABASE_URL"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help=f"a PostgreSQL URL (default: ${URL_ENV})")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--reservers", type=int, default=50, help="coroutines per process")
    parser.add_argument(
        "--pool", type=int, default=4, help="connections per process (the reservers share them)"
    )
    parser.add_argument("--ops", type=int, default=20_000, help="reservations in all")
    parser.add_argument("--users", type=int, default=50, help="members reserving")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def spec(user: int, n: int) -> JobSpec:
    return JobSpec(
        guild_id=GUILD,
        channel_id=2,
        user_id=user,
        role_ids=(),
        kind=JobKind.IMAGINE,
        origin=JobOrigin.SLASH,
        request=GenerationRequest(prompt=f"bench {n}: a quiet harbour at dawn", count=1),
    )


def worker(url: str, index: int, args: argparse.Namespace, barrier: Barrier, out: Any) -> None:
    """One bot process's reservations: ``(started, finished, latencies)`` on ``out``."""
    out.put(asyncio.run(_worker(url, index, args, barrier)))


async def _worker(
    url: str, index: int, args: argparse.Namespace, barrier: Barrier
) -> tuple[float, float, list[float]]:
    store = await PgStore.open(url, min_size=args.pool, max_size=args.pool)
    quota = QuotaService(store.quotas, default_daily_quota=10**9)
    ledger = JobLedger(store.jobs, quota)
    rng = random.Random(args.seed * 1000 + index)
    mine = args.ops // args.processes + (1 if index < args.ops % args.processes else 0)
    per = [
        mine // args.reservers + (1 if i < mine % args.reservers else 0)
        for i in range(args.reservers)
    ]
    latencies: list[float] = []

    async def reserver(count: int) -> None:
        for k in range(count):
            asked = spec(rng.randrange(args.users) + 100, k)
            started = time.perf_counter()
            await ledger.create(asked, asked.request)
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.to_thread(barrier.wait, 120)
        started = time.time()
        await asyncio.gather(*(reserver(n) for n in per))
        return started, time.time(), latencies
    finally:
        await store.close()


async def prepare_and_check(url: str, ops: int | None) -> None:
    """Before (ops None): migrate and clear the counters. After: the counters equal the jobs."""
    store = await PgStore.open(url)
    try:
        async with store.pool.connection() as conn:
            if ops is None:
                await conn.execute("TRUNCATE jobs, daily_usage CASCADE")
                return
            cursor = await conn.execute(
                "SELECT (SELECT count(*) FROM jobs), (SELECT coalesce(sum(counted), 0) FROM "
                "daily_usage), (SELECT coalesce(sum(used), 0) FROM daily_usage)"
            )
            jobs, guild, daily = await cursor.fetchone() or (0, 0, 0)
        exact = jobs == guild == daily == ops
        print(
            f"after: {jobs} jobs, guild count {guild}, member allowance counters {daily} "
            f"(expected {ops} each: {'exact' if exact else 'MISMATCH'})"
        )
        if not exact:
            raise SystemExit("the counters do not match the jobs")
    finally:
        await store.close()


def run(url: str, args: argparse.Namespace) -> int:
    print_header("quota store on PostgreSQL, several processes", "bench.pg_quota", args)
    asyncio.run(prepare_and_check(url, None))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(url, i, args, barrier, out)) for i in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = [lat for r in results for lat in r[2]]
    rate = args.ops / wall
    print(
        f"reserve-and-commit (JobLedger.create) from {args.processes} processes × "
        f"{args.reservers} reservers on {args.pool} connections: {args.ops} ops in "
        f"{wall:.2f} s = {rate:,.0f} ops/s; "
        f"latency p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms"
    )
    asyncio.run(prepare_and_check(url, args.ops))
    print(
        f"RESULT pg quota reserve-and-commit {rate:,.0f} ops/s with {args.processes} processes "
        f"(target ≥ {TARGET_OPS:,}: {verdict(rate >= TARGET_OPS)})"
    )
    return 0


def main() -> int:
    args = parse_args()
    url = args.url or os.environ.get(URL_ENV)
    if url:
        return run(url, args)
    # no server given: the throwaway cluster of scripts/test, stopped by its trap
    script = '. scripts/_pg.sh && [ -n "${TEST_DATABASE_URL:-}" ] && "$0" -m bench.pg_quota "$@"'
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, *sys.argv[1:]], cwd=ROOT, check=False
    )
    if done.returncode != 0:
        print("no PostgreSQL run: give --url, set TEST_DATABASE_URL, or install initdb/pg_ctl")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
