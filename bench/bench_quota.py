"""Benchmark: quota reservations per second on a SQLite file, and proof of no over-spend.

Run with ``.venv/bin/python -m bench.bench_quota [--reservers 200] [--ops 10000] ...``. Not
part of the test suite. It calls exactly what the engine calls, on one ``SqliteStore`` (one
stdlib ``sqlite3`` connection on its own thread, ``BEGIN IMMEDIATE`` transactions under
one asyncio lock, WAL):

1. *reserve-and-commit*: ``JobLedger.create`` — admission checks, quota reservation and the
   job row in one committed transaction (``JobEngine.create_job``'s database work);
2. *reserve + settle*: ``create`` then ``JobLedger.finish(FAILED)``, which settles the
   reservation (full refund) in the transaction that ends the job;
3. *over-spend*: members with a small daily allowance plus bonus credits and a guild budget
   smaller than their sum; ``--reservers`` coroutines keep asking for 1-4 images; each job
   admitted is either delivered and charged (``transition(SUBMITTED)`` →
   ``start_delivering`` → ``mark_delivered`` → ``finish(DONE)``, as the runner does) or fails
   and is refunded. Afterwards the ledger, the usage counters and the bonus balances must
   agree exactly and no member or guild may be over its limit. Target: 0 over-spent images.

Target for (1): ≥ 2,000 operations per second with 200 concurrent reservers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.support import percentile, print_header, summary_ms, verdict
from bot.core.accounts import AuditNote, GuildField
from bot.core.clock import utc_now
from bot.core.errors import QuotaExceededError
from bot.core.job import Job, JobImage, JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest
from bot.core.states import JobState
from bot.jobs.ledger import JobLedger
from bot.quotas.rules import QuotaService
from bot.storage.sqlite.store import SqliteStore

GUILD = 1
CHANNEL = 2
TARGET_OPS = 2000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reservers", type=int, default=200, help="concurrent reservers")
    parser.add_argument("--ops", type=int, default=10_000, help="operations per throughput phase")
    parser.add_argument("--users", type=int, default=50, help="members (throughput phases)")
    parser.add_argument("--spend-users", type=int, default=20, help="members (over-spend phase)")
    parser.add_argument("--allowance", type=int, default=25, help="daily images (over-spend)")
    parser.add_argument("--bonus", type=int, default=5, help="bonus credits each (over-spend)")
    parser.add_argument("--budget", type=int, default=450, help="guild budget (over-spend)")
    parser.add_argument("--attempts", type=int, default=10, help="asks per reserver (over-spend)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite file goes")
    return parser.parse_args()


def spec(user: int, count: int, n: int) -> JobSpec:
    return JobSpec(
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=user,
        role_ids=(),
        kind=JobKind.IMAGINE,
        origin=JobOrigin.SLASH,
        request=GenerationRequest(prompt=f"bench {n}: a quiet harbour at dawn", count=count),
    )


async def concurrently(
    reservers: int, total: int, op: Callable[[int], Awaitable[float]]
) -> tuple[float, list[float]]:
    """Run ``total`` ops spread over ``reservers`` coroutines; wall time and per-op latency."""
    latencies: list[float] = []
    per = [total // reservers + (1 if i < total % reservers else 0) for i in range(reservers)]

    async def reserver(index: int, count: int) -> None:
        for k in range(count):
            latencies.append(await op(index * 1_000_000 + k))

    start = time.perf_counter()
    await asyncio.gather(*(reserver(i, n) for i, n in enumerate(per)))
    return time.perf_counter() - start, latencies


async def round_trip(store: SqliteStore, n: int = 2000) -> float:
    """Seconds per ``SELECT 1`` on the database thread: one hop there and back."""
    started = time.perf_counter()
    for _ in range(n):
        await store.db.run_read(lambda conn: conn.execute("SELECT 1").fetchone())
    return (time.perf_counter() - started) / n


async def throughput(store: SqliteStore, args: argparse.Namespace) -> dict[str, float]:
    quota = QuotaService(store.quotas, default_daily_quota=10**9)
    ledger = JobLedger(store.jobs, quota)
    rng = random.Random(args.seed)

    async def create(n: int) -> float:
        started = time.perf_counter()
        asked = spec(rng.randrange(args.users) + 100, 1, n)
        await ledger.create(asked, asked.request)
        return time.perf_counter() - started

    async def cycle(n: int) -> float:
        started = time.perf_counter()
        asked = spec(rng.randrange(args.users) + 100, 1, n)
        job = await ledger.create(asked, asked.request)
        await ledger.finish(job.id, JobState.FAILED, error_code="bench", error_message="bench")
        return time.perf_counter() - started

    wall, latencies = await concurrently(args.reservers, args.ops, create)
    create_rate = args.ops / wall
    print(
        f"reserve-and-commit (JobLedger.create): {args.ops} ops in {wall:.2f} s = "
        f"{create_rate:,.0f} ops/s; latency per op {summary_ms(latencies)}"
    )
    wall, latencies = await concurrently(args.reservers, args.ops, cycle)
    cycle_rate = args.ops / wall
    print(
        f"reserve + settle (create, finish): {args.ops} cycles in {wall:.2f} s = "
        f"{cycle_rate:,.0f} cycles/s ({2 * cycle_rate:,.0f} transactions/s); "
        f"latency per cycle {summary_ms(latencies)}"
    )
    return {"create": create_rate, "cycle": cycle_rate, "p99": percentile(latencies, 99)}


async def overspend(store: SqliteStore, args: argparse.Namespace) -> int:
    rng = random.Random(args.seed + 1)
    quota = QuotaService(store.quotas, default_daily_quota=args.allowance)
    ledger = JobLedger(store.jobs, quota)
    users = [10_000 + i for i in range(args.spend_users)]
    now = datetime.now(UTC)
    setup = AuditNote(actor_id=0, action="bench")
    await store.moderation.set_guild_field(GUILD, GuildField.DAILY_BUDGET, args.budget, setup)
    for user in users:
        await store.moderation.change_bonus(GUILD, user, args.bonus, setup)

    admitted: list[Job] = []
    refused = 0
    failed: set[str] = set()

    async def run_job(job: Job) -> None:
        await ledger.transition(
            job.id, JobState.SUBMITTED, provider="bench", task_id=f"t-{job.id}", submitted_at=now
        )
        if rng.random() < 0.2:
            failed.add(job.id)
            await ledger.finish(job.id, JobState.FAILED, error_code="bench")
            return
        delivered = rng.randint(0, job.cost_reserved)  # providers may deliver fewer
        images = [JobImage(index=i, filename=f"{i}.png", size=1) for i in range(delivered)]
        if not images:
            failed.add(job.id)
            await ledger.finish(job.id, JobState.FAILED, error_code="bench")
            return
        await ledger.start_delivering(job.id, images, progress=100)
        await ledger.mark_delivered(job.id, [image.index for image in images], 1)
        await ledger.finish(job.id, JobState.DONE)

    async def reserver(index: int) -> None:
        nonlocal refused
        for k in range(args.attempts):
            user = rng.choice(users)
            count = rng.randint(1, 4)
            try:
                asked = spec(user, count, index * 1000 + k)
                job = await ledger.create(asked, asked.request)
            except QuotaExceededError:  # includes the guild budget
                refused += 1
                continue
            admitted.append(job)
            await run_job(job)

    start = time.perf_counter()
    await asyncio.gather(*(reserver(i) for i in range(args.reservers)))
    wall = time.perf_counter() - start

    finals = [await ledger.require(job.id) for job in admitted]
    charged_by_user: dict[int, int] = defaultdict(int)
    violations = 0
    mismatches: list[str] = []
    day = finals[0].quota_day if finals else utc_now().date()

    snapshots = {user: await store.quotas.snapshot(GUILD, user, day) for user in users}
    members = {user: (snap.daily_used, snap.member.bonus) for user, snap in snapshots.items()}
    guild_used = snapshots[users[0]].guild_used
    for user in users:
        mine = [job for job in finals if job.user_id == user]
        charged = sum(job.charged or 0 for job in mine)
        charged_by_user[user] = charged
        daily = sum(min(job.charged or 0, job.reserved_daily) for job in mine)
        bonus_spent = charged - daily
        used, bonus_left = members[user]
        violations += max(0, charged - (args.allowance + args.bonus))
        violations += max(0, used - args.allowance)
        if used != daily:
            mismatches.append(f"member {user}: daily counter {used} != ledger {daily}")
        if bonus_left != args.bonus - bonus_spent or bonus_left < 0:
            mismatches.append(f"member {user}: bonus {bonus_left} != {args.bonus - bonus_spent}")
    guild_charged = sum(charged_by_user.values())
    violations += max(0, guild_charged - args.budget) + max(0, guild_used - args.budget)
    if guild_used != guild_charged:
        mismatches.append(f"guild counter {guild_used} != ledger {guild_charged}")
    unfinished = sum(1 for job in finals if not job.state.finished)
    print(
        f"over-spend phase: {args.reservers} reservers × {args.attempts} asks in {wall:.2f} s; "
        f"{len(admitted)} jobs admitted ({len(failed)} refunded), {refused} refused; "
        f"{guild_charged} images charged of a guild budget of {args.budget} "
        f"({args.spend_users} members × {args.allowance} + {args.bonus} bonus = "
        f"{args.spend_users * (args.allowance + args.bonus)} member limit)"
    )
    print(
        f"max charged per member {max(charged_by_user.values(), default=0)} "
        f"(limit {args.allowance + args.bonus}); unfinished jobs {unfinished}; "
        f"counter mismatches {len(mismatches)}"
    )
    for line in mismatches[:10]:
        print(f"  MISMATCH {line}")
    return int(violations + len(mismatches) + unfinished)


async def main() -> None:
    args = parse_args()
    print_header("quota store", "bench.bench_quota", args)
    root = Path(tempfile.mkdtemp(prefix="seedream-quota-", dir=args.dir))
    try:
        print(f"SQLite file: {root / 'bot.sqlite3'} (filesystem: {filesystem(root)})")
        store = await SqliteStore.open(root / "bot.sqlite3")
        try:
            hop = await round_trip(store)
            print(f"database thread round trip (SELECT 1, one hop): {hop * 1e6:.0f} µs")
            rates = await throughput(store, args)
        finally:
            await store.close()
        store = await SqliteStore.open(root / "spend.sqlite3")
        try:
            over = await overspend(store, args)
        finally:
            await store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"RESULT reserve-and-commit {rates['create']:,.0f} ops/s "
        f"(target ≥ {TARGET_OPS:,}: {verdict(rates['create'] >= TARGET_OPS)}); "
        f"reserve+settle {rates['cycle']:,.0f} cycles/s; "
        f"over-spend {over} (target 0: {verdict(over == 0)})"
    )


def filesystem(path: Path) -> str:
    """The mount type holding ``path`` (tmpfs would flatter SQLite)."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            mount = fields[1]
            if resolved.startswith(mount) and len(mount) > len(best):
                best, kind = mount, fields[2]
    return f"{kind} on {best}"


if __name__ == "__main__":
    asyncio.run(main())
