"""Quota across processes: 200 reservers in 4 real processes on one PostgreSQL database,
against one member's allowance (and bonus) and one server's budget: nothing over-spent, and
the counters equal exactly what the admitted jobs hold."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable

import pytest

from bot.core.accounts import AuditNote, GuildField, QuotaSnapshot
from bot.core.job import Job
from bot.quotas.rules import QuotaService
from bot.storage.postgres.pg_store import PgStore
from tests.jobs.support import FakeClock
from tests.storage import pg_reservers as r

PROCESSES = 4
PER_PROCESS = 50

pytestmark = pytest.mark.postgres


def test_two_hundred_reservers_in_four_processes_never_overspend(
    pg_databases: Callable[[], str],
) -> None:
    url = pg_databases()
    asyncio.run(_setup(url))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=r.reserve_all, args=(url, n, PER_PROCESS, barrier, results))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    assert all(worker.exitcode == 0 for worker in workers)
    asked = [row for _, rows in outcomes for row in rows]
    assert len(asked) == PROCESSES * PER_PROCESS
    ids = [job_id for _, _, job_id, _ in asked if job_id is not None]
    jobs, snapshot = asyncio.run(_read(url, ids))
    assert sorted(jobs) == sorted(ids)  # every admitted reservation has its job row

    refused = [(m, n) for (m, n, job_id, _) in asked if job_id is None]
    codes = {code for _, _, job_id, code in asked if job_id is None}
    assert codes <= {"quota_exceeded", "guild_budget_exceeded"}
    # exact arithmetic: the counters are the sums of what the admitted jobs reserved
    mine = [job for job in jobs.values() if job.user_id == r.MEMBER]
    assert snapshot.guild_used == sum(job.cost_reserved for job in jobs.values())
    assert snapshot.daily_used == sum(job.reserved_daily for job in mine)
    assert snapshot.member.bonus == r.BONUS - sum(job.reserved_bonus for job in mine)
    # nothing over-spent
    assert snapshot.guild_used <= r.BUDGET
    assert snapshot.daily_used <= r.ALLOWANCE
    assert snapshot.member.bonus >= 0
    # the limits were really contended, and every refusal was one that could not fit
    assert refused, "nothing was refused: the test proves nothing"
    assert snapshot.guild_used > r.BUDGET - 4
    left_budget = r.BUDGET - snapshot.guild_used
    left_member = r.ALLOWANCE - snapshot.daily_used + snapshot.member.bonus
    for member, images in refused:
        assert images > left_budget or (member == r.MEMBER and images > left_member)


async def _setup(url: str) -> None:
    store = await PgStore.open(url, clock=FakeClock())
    try:
        note = AuditNote(1, "setup")
        await store.moderation.set_guild_field(r.GUILD, GuildField.DAILY_BUDGET, r.BUDGET, note)
        await store.moderation.change_bonus(r.GUILD, r.MEMBER, r.BONUS, note)
        for other in r.OTHERS:  # plenty each: the others only meet the server's budget
            await store.moderation.set_member_override(r.GUILD, other, 1000, note)
    finally:
        await store.close()


async def _read(url: str, ids: list[str]) -> tuple[dict[str, Job], QuotaSnapshot]:
    clock = FakeClock()
    store = await PgStore.open(url, clock=clock)
    try:
        rules = QuotaService(store.quotas, default_daily_quota=r.ALLOWANCE, clock=clock)
        jobs: dict[str, Job] = {}
        for job_id in ids:
            job = await store.jobs.get(job_id)
            if job is not None:
                jobs[job.id] = job
        snapshot = await store.quotas.snapshot(r.GUILD, r.MEMBER, rules.today())
        return jobs, snapshot
    finally:
        await store.close()
