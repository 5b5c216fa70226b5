"""Quota counters on PostgreSQL: the snapshot the rules read, and applying their answer.

Many processes reserve at once. A member's images of a day live in one row (the allowance
counter and the images the budgets count), and the guild's and bot-wide counts are sums of
those rows, so without budgets reservations contend only per member. A reservation locks,
always in one order, the guild (a transaction-level advisory lock, taken only when the guild
has a budget), then the member's counter and settings rows (``FOR UPDATE``), and reads the
snapshot after the locks, so the daily/bonus split is computed on values nobody else can
change. The counters then move by conditional updates (``used + n <= limit … RETURNING``),
the bonus debit too, and the budgets are checked on the sums, so the limits hold even if
the rules had a bug, and a refusal is an answer, never an aborted transaction. A bot-wide
budget adds one more advisory lock, taken last.

A reservation is few statements: the locks and reads are one (``quota_lock_and_read`` of
the migrations), the updates one, the job row one, then the COMMIT. (psycopg's pipeline
mode would save two round trips but cost more client CPU than they take on a local
server: measured slower, docs/benchmarks.md.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime

from psycopg import AsyncCursor
from psycopg.rows import TupleRow

from bot.core.accounts import (
    GuildSettings,
    Limit,
    MemberSettings,
    QuotaSnapshot,
    Reservation,
    Settlement,
)
from bot.core.job import Job, JobSpec
from bot.storage.postgres.pg_pool import Conn, Pool
from bot.storage.postgres.pg_settings import PgSettingsRepo
from bot.storage.postgres.pg_usage import PgUsageRepo
from bot.storage.protocols import QuotaRules

Cursor = AsyncCursor[TupleRow]
#: the transaction-level advisory lock of the bot-wide budget ("seedream" 2)
GLOBAL_BUDGET_LOCK = 0x5EED_0002


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
    g, u = guild_id, user_id
    member = await conn.execute(
        "SELECT daily_override, bonus, blocked FROM member_settings "
        "WHERE guild_id = %s AND user_id = %s",
        (g, u),
    )
    guild = await conn.execute(
        "SELECT daily_quota, daily_budget, modlog_channel_id FROM guild_settings "
        "WHERE guild_id = %s",
        (g,),
    )
    roles = await conn.execute(
        "SELECT role_id, daily_quota FROM role_allowances WHERE guild_id = %s ORDER BY role_id",
        (g,),
    )
    terms = await conn.execute(
        'SELECT term FROM blocked_terms WHERE guild_id = %s ORDER BY term COLLATE "C"', (g,)
    )
    counters = await conn.execute(
        "SELECT (SELECT used FROM daily_usage WHERE guild_id = %(g)s AND user_id = %(u)s "
        "AND day = %(day)s), (SELECT sum(counted) FROM daily_usage WHERE guild_id = %(g)s "
        "AND day = %(day)s), (SELECT sum(counted) FROM daily_usage WHERE day = %(day)s)",
        {"g": g, "u": u, "day": day},
    )
    member_row = await member.fetchone()
    guild_row = await guild.fetchone()
    daily_used, guild_used, global_used = await counters.fetchone() or (0, 0, 0)
    return QuotaSnapshot(
        day=day,
        guild=GuildSettings(g, *guild_row) if guild_row else GuildSettings(g),
        member=(
            MemberSettings(g, u, member_row[0], member_row[1], bool(member_row[2]))
            if member_row
            else MemberSettings(g, u)
        ),
        role_allowances={int(r[0]): int(r[1]) for r in await roles.fetchall()},
        blocked_terms=tuple(str(r[0]) for r in await terms.fetchall()),
        daily_used=int(daily_used or 0),
        guild_used=int(guild_used or 0),
        global_used=int(global_used or 0),
    )


async def lock_and_read(conn: Conn, guild_id: int, user_id: int, day: date) -> QuotaSnapshot:
    """Lock the guild (when it has a budget), then the member's counter and settings
    (creating them if needed), and read the snapshot after the locks: one statement
    (``quota_lock_and_read`` of the migrations)."""
    cursor = await conn.execute(
        "SELECT * FROM quota_lock_and_read(%s, %s, %s)", (guild_id, user_id, day)
    )
    row = await cursor.fetchone()
    assert row is not None
    (guild_used, daily_used, global_used, override, bonus, blocked) = row[:6]
    (guild_quota, guild_budget, modlog, role_ids, role_quotas, terms) = row[6:]
    return QuotaSnapshot(
        day=day,
        guild=GuildSettings(guild_id, guild_quota, guild_budget, modlog),
        member=MemberSettings(guild_id, user_id, override, bonus, bool(blocked)),
        role_allowances={int(r): int(q) for r, q in zip(role_ids, role_quotas, strict=True)},
        blocked_terms=tuple(terms),
        daily_used=int(daily_used),
        guild_used=int(guild_used),
        global_used=int(global_used),
    )


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
    along: Callable[[Reservation], Awaitable[Cursor]],
) -> tuple[Reservation, Cursor]:
    """Lock, ask the rules and hold the images, inside the caller's transaction; ``along``
    sends one more statement (the job row) with the updates. The reservation and the cursor
    of that statement; a refusal raises (the caller's transaction then rolls back)."""
    snapshot = await lock_and_read(conn, guild_id, user_id, rules.today())
    held = rules.admit(snapshot, role_ids, count, prompt)
    # The rows are locked: one statement moves both, each update conditional.
    moved = await conn.execute(
        "WITH d AS (UPDATE daily_usage SET used = used + %(daily)s, counted = counted + %(n)s "
        "  WHERE guild_id = %(g)s AND user_id = %(u)s AND day = %(day)s "
        "  AND (%(daily)s = 0 OR %(limit)s::integer IS NULL "
        "  OR used + %(daily)s <= %(limit)s::integer) RETURNING 1), "
        "b AS (UPDATE member_settings SET bonus = bonus - %(bonus)s, updated_at = %(now)s "
        "  WHERE %(bonus)s > 0 AND guild_id = %(g)s AND user_id = %(u)s "
        "  AND bonus >= %(bonus)s RETURNING 1) "
        "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM b)",
        {
            "n": held.total,
            "daily": held.daily,
            "bonus": held.bonus,
            "g": guild_id,
            "u": user_id,
            "day": held.day,
            "limit": held.daily_limit,
            "now": now,
        },
    )
    # the budgets, after the update so the sums include it (the locks are held)
    guild_fits = global_fits = None
    if held.guild_limit is not None:
        guild_fits = await conn.execute(
            "SELECT quota_guild_fits(%s, %s, %s)", (guild_id, held.day, held.guild_limit)
        )
    if held.global_limit is not None:
        global_fits = await conn.execute(
            "SELECT quota_global_fits(%s, %s)", (held.day, held.global_limit)
        )
    extra = await along(held)
    row = await moved.fetchone()
    assert row is not None
    daily_ok, bonus_ok = (int(n) == 1 for n in row)
    if not daily_ok or (held.bonus and not bonus_ok):
        raise rules.refusal(Limit.DAILY, snapshot, role_ids, count)
    if guild_fits is not None and not await _true(guild_fits):
        raise rules.refusal(Limit.GUILD, snapshot, role_ids, count)
    if global_fits is not None and not await _true(global_fits):
        raise rules.refusal(Limit.GLOBAL, snapshot, role_ids, count)
    return held, extra


async def _true(cursor: Cursor) -> bool:
    row = await cursor.fetchone()
    return row is not None and row[0] is True


async def settle(
    conn: Conn, rules: QuotaRules, job: Job, charged: int, now: datetime
) -> Settlement:
    """Charge ``charged`` images of the job's reservation and give back the rest (the
    member's rows only: a refund cannot break a budget)."""
    settlement = rules.settle(job.reserved_daily, job.reserved_bonus, charged)
    if settlement.refunded:
        await PgUsageRepo(conn).refund(
            job.guild_id,
            job.user_id,
            job.quota_day,
            daily=settlement.refunded_daily,
            counted=settlement.refunded,
        )
    if settlement.refunded_bonus:
        await PgSettingsRepo(conn).add_bonus(
            job.guild_id, job.user_id, settlement.refunded_bonus, now
        )
    return settlement
