"""Quota counters on PostgreSQL: the snapshot the rules read, and applying their answer.

Many processes reserve at once, so a reservation first locks the rows its answer depends on,
always in one order: the guild's counter of the day, then the member's counter and settings
(the bonus). The snapshot read after those locks cannot change under the rules' feet; the
bot-wide counter is moved last by a conditional update, as every counter is (``used + n <=
limit``), so the limits hold even if the rules had a bug. Settling takes the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from bot.core.accounts import Limit, QuotaSnapshot, Reservation, Settlement
from bot.core.job import Job, JobSpec
from bot.storage.postgres.pg_pool import Pool
from bot.storage.postgres.pg_settings import PgSettingsRepo
from bot.storage.postgres.pg_usage import PgUsageRepo
from bot.storage.protocols import QuotaRules

Conn = AsyncConnection[TupleRow]


class PgQuotaStore:
    """``QuotaStore`` on one pool."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def snapshot(self, guild_id: int, user_id: int, day: date) -> QuotaSnapshot:
        """What the rules need about the member on ``day``, in one repeatable-read
        transaction (one consistent view)."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return await read_snapshot(conn, guild_id, user_id, day)

    async def precheck(self, spec: JobSpec, rules: QuotaRules) -> None:
        """The rules over a fresh snapshot; nothing is written (they are pure)."""
        snapshot = await self.snapshot(spec.guild_id, spec.user_id, rules.today())
        rules.admit(snapshot, tuple(spec.role_ids), spec.request.count, spec.request.prompt)


async def read_snapshot(conn: Conn, guild_id: int, user_id: int, day: date) -> QuotaSnapshot:
    """The member's settings, the guild's, its role allowances and blocklist, and the day's
    counters."""
    settings = PgSettingsRepo(conn)
    usage = PgUsageRepo(conn)
    return QuotaSnapshot(
        day=day,
        guild=await settings.guild(guild_id),
        member=await settings.member(guild_id, user_id),
        role_allowances=await settings.role_allowances(guild_id),
        blocked_terms=tuple(await settings.blocked_terms(guild_id)),
        daily_used=await usage.daily_used(guild_id, user_id, day),
        guild_used=await usage.guild_used(guild_id, day),
        global_used=await usage.global_used(day),
    )


async def lock_member(conn: Conn, guild_id: int, user_id: int, day: date) -> None:
    """Take the reservation's row locks in the one order: guild, then member."""
    usage = PgUsageRepo(conn)
    await usage.lock_guild(guild_id, day)
    await usage.lock_daily(guild_id, user_id, day)
    await PgSettingsRepo(conn).member(guild_id, user_id, lock=True)


async def reserve(
    conn: Conn,
    rules: QuotaRules,
    *,
    guild_id: int,
    user_id: int,
    role_ids: Sequence[int],
    count: int,
    prompt: str,
    now: datetime,
) -> Reservation:
    """Lock, ask the rules and hold the images, inside the caller's transaction."""
    day = rules.today()
    await lock_member(conn, guild_id, user_id, day)
    snapshot = await read_snapshot(conn, guild_id, user_id, day)
    held = rules.admit(snapshot, role_ids, count, prompt)
    usage = PgUsageRepo(conn)

    def refuse(limit: Limit) -> Exception:
        return rules.refusal(limit, snapshot, role_ids, count)

    if not await usage.add_guild(guild_id, held.day, held.total, limit=held.guild_limit):
        raise refuse(Limit.GUILD)
    if held.daily and not await usage.add_daily(
        guild_id, user_id, held.day, held.daily, limit=held.daily_limit
    ):
        raise refuse(Limit.DAILY)
    if held.bonus and not await PgSettingsRepo(conn).take_bonus(guild_id, user_id, held.bonus, now):
        raise refuse(Limit.DAILY)
    # Counted even without a cap, so a cap set mid-day sees the whole day; last, so the
    # one row every reservation touches is held for the shortest time.
    if not await usage.add_global(held.day, held.total, limit=held.global_limit):
        raise refuse(Limit.GLOBAL)
    return held


async def settle(
    conn: Conn, rules: QuotaRules, job: Job, charged: int, now: datetime
) -> Settlement:
    """Charge ``charged`` images of the job's reservation and give back the rest (same lock
    order as ``reserve``: guild, member, bonus, then bot-wide)."""
    settlement = rules.settle(job.reserved_daily, job.reserved_bonus, charged)
    usage = PgUsageRepo(conn)
    if settlement.refunded:
        await usage.add_guild(job.guild_id, job.quota_day, -settlement.refunded)
    if settlement.refunded_daily:
        await usage.add_daily(job.guild_id, job.user_id, job.quota_day, -settlement.refunded_daily)
    if settlement.refunded_bonus:
        await PgSettingsRepo(conn).add_bonus(
            job.guild_id, job.user_id, settlement.refunded_bonus, now
        )
    if settlement.refunded:
        await usage.add_global(job.quota_day, -settlement.refunded)
    return settlement
