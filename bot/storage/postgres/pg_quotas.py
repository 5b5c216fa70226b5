"""Quota counters on PostgreSQL: the snapshot the rules read, and applying their answer.

Many processes reserve at once, so a reservation first locks the rows its answer depends on,
always in one order: the guild's counter of the day, then the member's counter and settings
(the bonus). The snapshot read after those locks cannot change under the rules' feet. Every
counter then moves by a conditional update (``used + n <= limit … RETURNING``), the bonus
debit too, so the limits hold even if the rules had a bug, and a refusal is an answer, never
an aborted transaction. The bot-wide count is the sum of the guilds' counters; with a
bot-wide budget, reservations also queue on one transaction-level advisory lock, taken last.

A reservation is few statements, in pipeline mode: the locks and reads are one
(``quota_lock_and_read``), the updates one, the job row one, then the COMMIT; three round
trips in all, which is how long the guild's row stays locked.
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
    counters (every statement sent before any result is read)."""
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
        "AND day = %(day)s), (SELECT used FROM guild_usage WHERE guild_id = %(g)s "
        "AND day = %(day)s), (SELECT sum(used) FROM guild_usage WHERE day = %(day)s)",
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
    """Lock the guild's counter of ``day``, then the member's counter and settings (creating
    them if needed), and read the snapshot after the locks: one statement
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
    # The rows are locked: one statement moves them all, each update conditional.
    moved = await conn.execute(
        "WITH g AS (UPDATE guild_usage SET used = used + %(n)s "
        "  WHERE guild_id = %(g)s AND day = %(day)s AND (%(glimit)s::integer IS NULL "
        "  OR used + %(n)s <= %(glimit)s::integer) RETURNING 1), "
        "d AS (UPDATE daily_usage SET used = used + %(daily)s "
        "  WHERE %(daily)s > 0 AND guild_id = %(g)s AND user_id = %(u)s AND day = %(day)s "
        "  AND (%(dlimit)s::integer IS NULL OR used + %(daily)s <= %(dlimit)s::integer) "
        "  RETURNING 1), "
        "b AS (UPDATE member_settings SET bonus = bonus - %(bonus)s, updated_at = %(now)s "
        "  WHERE %(bonus)s > 0 AND guild_id = %(g)s AND user_id = %(u)s "
        "  AND bonus >= %(bonus)s RETURNING 1) "
        "SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM d), (SELECT count(*) FROM b)",
        {
            "n": held.total,
            "daily": held.daily,
            "bonus": held.bonus,
            "g": guild_id,
            "u": user_id,
            "day": held.day,
            "glimit": held.guild_limit,
            "dlimit": held.daily_limit,
            "now": now,
        },
    )
    fits = None
    if held.global_limit is not None:
        # after the guild's update, so the day's sum includes it
        fits = await conn.execute("SELECT quota_global_fits(%s, %s)", (held.day, held.global_limit))
    extra = await along(held)
    row = await moved.fetchone()
    assert row is not None
    guild_ok, daily_ok, bonus_ok = (int(n) == 1 for n in row)
    if not guild_ok:
        raise rules.refusal(Limit.GUILD, snapshot, role_ids, count)
    if (held.daily and not daily_ok) or (held.bonus and not bonus_ok):
        raise rules.refusal(Limit.DAILY, snapshot, role_ids, count)
    if fits is not None and (await fits.fetchone() or (False,))[0] is not True:
        raise rules.refusal(Limit.GLOBAL, snapshot, role_ids, count)
    return held, extra


async def settle(
    conn: Conn, rules: QuotaRules, job: Job, charged: int, now: datetime
) -> Settlement:
    """Charge ``charged`` images of the job's reservation and give back the rest (the lock
    order of ``reserve``: guild, then member)."""
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
    return settlement
