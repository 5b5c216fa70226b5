"""Benchmark: failover after SIGKILL with the shipped settings (JOB_STALL_TIMEOUT 30,
JOB_RECOVERY_INTERVAL 15): how long until a killed process's jobs resume elsewhere.

Run with ``.venv/bin/python -m bench.pg_failover [--trials 1] [--jobs 4] [--task-seconds 40]``.
Not part of the test suite. Each trial, on a fresh database: a ``seedream-bot run`` process
takes ``--jobs`` ``/imagine`` jobs from the fake Discord and submits them to the fake PoYo
(tasks of ``--task-seconds``); a ``seedream-bot worker`` joins; the ``run`` process is
SIGKILLed while the provider still works on them, a random 0-15 s after the worker is up
(so the kill falls anywhere in the heartbeat's and the recovery tick's cycles). Measured from
the kill: until each job's procrastinate task is claimed by the worker (resumed), and until
its result is posted. Only
``DATABASE_URL`` and ``PUBLIC_URL`` (callbacks) are set; everything else is the default.

A live process updates its heartbeat every JOB_STALL_TIMEOUT / 3 (10 s), so the killed one
counts as dead 20 to 30 s after the kill, and the next recovery tick of the worker (every
15 s) retries its jobs: 20 to 45 s. Without ``--url`` or ``TEST_DATABASE_URL`` it starts a
throwaway cluster through ``scripts/_pg.sh``. Target: every job resumed within 45 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import tempfile
import time
from pathlib import Path

from bench.pg_cluster import fresh_database, process_env, query, run_with_server
from bench.support import add_members, fakes, print_header, verdict, wait_until
from tests.botprocess import bot_process, wait_healthy

STALL, TICK = 30.0, 15.0  # the shipped JOB_STALL_TIMEOUT and JOB_RECOVERY_INTERVAL
TARGET = STALL + TICK


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=4, help="jobs the killed process holds")
    parser.add_argument("--task-seconds", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=13, help="of the random wait before a kill")
    return parser.parse_args()


def claims(db_url: str) -> dict[str, tuple[int | None, str]]:
    """Each job's procrastinate task: (worker id, status)."""
    rows = query(db_url, "SELECT args->>'job_id', worker_id, status FROM procrastinate_jobs")
    return {str(job): (None if w is None else int(str(w)), str(s)) for job, w, s in rows}


def finished(db_url: str) -> set[str]:
    return {str(row[0]) for row in query(db_url, "SELECT id FROM jobs WHERE state = 'done'")}


async def trial(
    server_url: str, args: argparse.Namespace, number: int, rng: random.Random
) -> tuple[float, float]:
    """One kill: (seconds until the last job resumed, until the last result was posted)."""
    with (
        tempfile.TemporaryDirectory(prefix="seedream-pg-failover-") as tmp,
        fresh_database(server_url) as db_url,
    ):
        async with (
            fakes(latency=0.1, finish_after=args.task_seconds) as (discord, provider, stamps),
            contextlib.AsyncExitStack() as stack,
        ):

            def env(name: str) -> dict[str, str]:
                return process_env(Path(tmp) / name, discord, provider, db_url)

            run = await stack.enter_async_context(bot_process(Path(tmp), env("run")))
            await discord.wait_ready(timeout=60)
            await wait_healthy(run, timeout=90)
            members = add_members(discord, (args.jobs + 1) // 2)
            for n in range(args.jobs):
                prompt = f"failover {number}.{n}: a lighthouse in a storm"
                await discord.slash(
                    "imagine", user=members[n % len(members)], options={"prompt": prompt}
                )
            # every job claimed by the run process and submitted to the provider
            await wait_until(
                lambda: (
                    len(claims(db_url)) == args.jobs
                    and all(s == "doing" for _, s in claims(db_url).values())
                    and provider.count("submit") >= args.jobs
                ),
                timeout=60,
                what="the jobs claimed and submitted",
            )
            held = claims(db_url)
            worker = await stack.enter_async_context(
                bot_process(Path(tmp), env("worker"), "worker")
            )
            await wait_healthy(worker, timeout=90)
            # the kill falls anywhere in the heartbeat's and the recovery tick's cycles
            await asyncio.sleep(rng.uniform(0, TICK))
            run.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await run.process.wait()
            resumed: dict[str, float] = {}
            done: dict[str, float] = {}
            while len(done) < args.jobs:
                assert time.monotonic() - killed < TARGET + 120, "the jobs never finished"
                now = time.monotonic()
                current = claims(db_url)
                for job, (old_worker, _) in held.items():
                    worker_id, status = current.get(job, (None, "gone"))
                    if status == "gone" or (status == "doing" and worker_id != old_worker):
                        resumed.setdefault(job, now)
                for job in finished(db_url):
                    done.setdefault(job, now)
                    resumed.setdefault(job, now)
                await asyncio.sleep(0.1)
            await wait_until(lambda: len(stamps.files) >= args.jobs, 30, what="results posted")
            worker.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.process.wait(), 20)
        posted = len(stamps.files)
        ledger = query(db_url, "SELECT count(*), coalesce(sum(charged), 0) FROM jobs")[0]
    resume, finish = max(resumed.values()) - killed, max(done.values()) - killed
    print(
        f"trial {number}: {args.jobs} jobs held by the killed process; resumed in the worker "
        f"{min(resumed.values()) - killed:.1f}-{resume:.1f} s after the kill, done "
        f"{finish:.1f} s after it; {posted} results posted, {provider.count('submit')} submits, "
        f"ledger {ledger[0]} jobs charged {ledger[1]}"
    )
    return resume, finish


async def bench(server_url: str, args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    results = [await trial(server_url, args, n + 1, rng) for n in range(args.trials)]
    worst = max(resume for resume, _ in results)
    each = ", ".join(f"{r:.1f}" for r, _ in results)
    done = ", ".join(f"{f:.1f}" for _, f in results)
    print(
        f"RESULT pg failover after SIGKILL (stall {STALL:g} s + tick {TICK:g} s): jobs resumed "
        f"elsewhere within {worst:.1f} s over {args.trials} trial(s) (each: "
        f"{each} s; done {done} s; "
        f"target ≤ {TARGET:g} s: {verdict(worst <= TARGET)})"
    )
    return 0


def main() -> int:
    args = parse_args()

    def run(server_url: str) -> int:
        print_header("failover after SIGKILL on PostgreSQL", "bench.pg_failover", args)
        return asyncio.run(bench(server_url, args))

    return run_with_server("bench.pg_failover", args.url, run)


if __name__ == "__main__":
    raise SystemExit(main())
