"""Benchmark: the fair line's admission statement on PostgreSQL, p95 latency.

Run with ``.venv/bin/python -m bench.pg_admission [--members 50] [--waiting 500] [--rounds 3000]``.
Not part of the test suite. A fresh database is migrated; the line holds ``--waiting`` jobs
of ``--members`` members and as many in flight as the limits allow (``--per-member``,
``--provider-limit`` for each of 3 providers). Each round is what a finishing job's
transaction does: release one job in flight, then the admission statement (under the
advisory lock) admits the next; a new job joins so the line keeps its length. The latency
measured is the admission call alone (lock + statement + result), as the client sees it.

Without ``--url`` or ``TEST_DATABASE_URL`` it starts a throwaway cluster through
``scripts/_pg.sh`` (as ``scripts/test`` does) and stops it at the end.
Target: p95 under 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench.support import ROOT, percentile, print_header, verdict
from bot.jobs.fair_line import FairLine, LineLimits
from bot.storage.postgres.pg_pool import migrate

URL_ENV = "TEST_DATABASE_URL"
TARGET_MS = 5.0
PROVIDERS = ("poyo", "ark", "apiyi")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help=f"a PostgreSQL URL (default: ${URL_ENV})")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--per-member", type=int, default=2)
    parser.add_argument("--provider-limit", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


async def bench(url: str, args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    limits = dict.fromkeys(PROVIDERS, args.provider_limit)
    line = FairLine(LineLimits(args.per_member, lambda: limits, args.provider_limit))
    await migrate(url)
    counter = 0
    flying: list[str] = []
    async with await psycopg.AsyncConnection.connect(url) as conn:

        async def join() -> None:
            nonlocal counter
            counter += 1
            user = rng.randrange(args.members)
            await line.enqueue(conn, f"j{counter}", user, rng.choice(PROVIDERS))

        async with conn.transaction():
            await conn.execute("TRUNCATE cluster_waiting, cluster_turns, cluster_flights")
            for _ in range(args.waiting):
                await join()
            flying.extend(d.job_id for d in await line.admit_all(conn))
        samples: list[float] = []
        for _ in range(args.rounds):
            async with conn.transaction():
                if flying:
                    await line.release(conn, flying.pop(rng.randrange(len(flying))))
                await join()
                started = time.perf_counter()
                dispatch = await line.admit_next(conn)
                samples.append((time.perf_counter() - started) * 1000)
                if dispatch is not None:
                    flying.append(dispatch.job_id)
        cursor = await conn.execute("SELECT count(*) FROM cluster_waiting")
        row: Any = await cursor.fetchone()
    p50, p95, p99 = (percentile(samples, p) for p in (50, 95, 99))
    print(
        f"line: {args.members} members, ~{row[0]} waiting, {len(flying)} in flight; "
        f"{args.rounds} admissions"
    )
    print(f"admission latency: p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms")
    print(f"RESULT admission_p95_ms={p95:.2f} target<{TARGET_MS} {verdict(p95 < TARGET_MS)}")
    return 0


def main() -> int:
    args = parse_args()
    url = args.url or os.environ.get(URL_ENV)
    if url:
        print_header("fair line admission latency on PostgreSQL", "bench.pg_admission", args)
        return asyncio.run(bench(url, args))
    # no server given: the throwaway cluster of scripts/test, stopped by its trap
    script = (
        '. scripts/_pg.sh && [ -n "${TEST_DATABASE_URL:-}" ] && "$0" -m bench.pg_admission "$@"'
    )
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, *sys.argv[1:]], cwd=ROOT, check=False
    )
    if done.returncode != 0:
        print("no PostgreSQL run: give --url, set TEST_DATABASE_URL, or install initdb/pg_ctl")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
