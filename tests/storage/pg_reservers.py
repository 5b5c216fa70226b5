"""A reserving process for the cross-process quota test: many concurrent ``create`` calls on
one PostgreSQL database, started by ``multiprocessing`` (spawn) so each is a real process."""

from __future__ import annotations

import asyncio
import random
from multiprocessing.synchronize import Barrier
from typing import Any

from bot.core.errors import QuotaExceededError
from bot.core.job import JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest
from bot.quotas.rules import GuildBudgetExceededError, QuotaService
from bot.storage.postgres.pg_store import PgStore
from tests.jobs.support import FakeClock

GUILD = 1
#: the one member whose allowance and bonus are contended
MEMBER = 42
ALLOWANCE = 30
BONUS = 10
BUDGET = 150
#: members besides MEMBER, each with plenty of allowance: they contend for the budget
OTHERS = tuple(range(100, 120))


def asks(worker: int, count: int) -> list[tuple[int, int]]:
    """The (member, images) each reserver of ``worker`` asks for: half of them MEMBER."""
    rng = random.Random(worker)
    return [(MEMBER if n % 2 == 0 else rng.choice(OTHERS), rng.randint(1, 4)) for n in range(count)]


def reserve_all(url: str, worker: int, count: int, barrier: Barrier, results: Any) -> None:
    """Open the store, wait for every process, then run ``count`` reservers at once; put
    ``(worker, [(member, images, job id or None, refusal code or None)])`` on ``results``."""
    results.put((worker, asyncio.run(_reserve_all(url, worker, count, barrier))))


async def _reserve_all(
    url: str, worker: int, count: int, barrier: Barrier
) -> list[tuple[int, int, str | None, str | None]]:
    clock = FakeClock()
    store = await PgStore.open(url, clock=clock, max_size=count)
    rules = QuotaService(store.quotas, default_daily_quota=ALLOWANCE, clock=clock)
    try:
        # every connection open before the start, so the reservations really overlap
        await asyncio.gather(*(_warm(store) for _ in range(count)))
        await asyncio.to_thread(barrier.wait, 60)

        async def one(member: int, images: int) -> tuple[int, int, str | None, str | None]:
            spec = JobSpec(
                guild_id=GUILD,
                channel_id=1,
                user_id=member,
                role_ids=(),
                kind=JobKind.IMAGINE,
                origin=JobOrigin.SLASH,
                request=GenerationRequest(prompt="a cat", count=images),
            )
            try:
                job = await store.jobs.create(spec, spec.request, rules)
            except (GuildBudgetExceededError, QuotaExceededError) as exc:
                return member, images, None, exc.code
            return member, images, job.id, None

        return list(await asyncio.gather(*(one(m, n) for m, n in asks(worker, count))))
    finally:
        await store.close()


async def _warm(store: PgStore) -> None:
    async with store.pool.connection() as conn:
        await conn.execute("SELECT 1")
        await asyncio.sleep(0.05)  # hold it, so the pool opens another for the next
