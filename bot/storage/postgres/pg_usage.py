"""SQL for the usage counters (per member, per guild, bot-wide, per UTC day) and usage reports.

One row per member and day holds both the allowance counter and the images the budgets
count; the guild's and the bot-wide counts are sums over those rows, so no single row is
updated by every reservation of every process.
"""

from __future__ import annotations

from datetime import date
from typing import LiteralString

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from bot.core.accounts import UsageReport, UsageTotals
from bot.core.states import UNFINISHED_STATES

Conn = AsyncConnection[TupleRow]
_UNFINISHED = [s.value for s in UNFINISHED_STATES]


class PgUsageRepo:
    """Counters behind quotas and budgets. Callers run inside a transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _one(self, query: LiteralString, args: tuple[object, ...]) -> int:
        cursor = await self._conn.execute(query, args)
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def daily_used(self, guild_id: int, user_id: int, day: date) -> int:
        """Images taken from the member's allowance on ``day`` (reserved or charged)."""
        return await self._one(
            "SELECT used FROM daily_usage WHERE guild_id = %s AND user_id = %s AND day = %s",
            (guild_id, user_id, day),
        )

    async def guild_used(self, guild_id: int, day: date) -> int:
        """Images the whole guild took on ``day`` (reserved or charged): its members' sum."""
        return await self._one(
            "SELECT coalesce(sum(counted), 0) FROM daily_usage WHERE guild_id = %s AND day = %s",
            (guild_id, day),
        )

    async def global_used(self, day: date) -> int:
        """Images every guild together took on ``day`` (reserved or charged)."""
        return await self._one(
            "SELECT coalesce(sum(counted), 0) FROM daily_usage WHERE day = %s", (day,)
        )

    async def lock_daily(self, guild_id: int, user_id: int, day: date) -> None:
        """Create (if needed) and lock the member's counter of ``day``."""
        await self._conn.execute(
            "INSERT INTO daily_usage (guild_id, user_id, day) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (guild_id, user_id, day),
        )
        await self._conn.execute(
            "SELECT used FROM daily_usage WHERE guild_id = %s AND user_id = %s AND day = %s "
            "FOR UPDATE",
            (guild_id, user_id, day),
        )

    async def refund(
        self, guild_id: int, user_id: int, day: date, *, daily: int, counted: int
    ) -> None:
        """Give back ``daily`` allowance images and ``counted`` images in all (a settlement).

        A negative result violates the table's CHECK and raises: that would be a ledger bug.
        """
        await self._conn.execute(
            "UPDATE daily_usage SET used = used - %s, counted = counted - %s "
            "WHERE guild_id = %s AND user_id = %s AND day = %s",
            (daily, counted, guild_id, user_id, day),
        )

    async def set_daily(self, guild_id: int, user_id: int, day: date, used: int) -> None:
        """Overwrite the member's allowance counter (a moderator reset; the budgets' count
        stays)."""
        await self._conn.execute(
            "INSERT INTO daily_usage (guild_id, user_id, day, used) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = excluded.used",
            (guild_id, user_id, day, used),
        )

    async def in_flight_daily(self, guild_id: int, user_id: int, day: date) -> int:
        """Allowance images still reserved (not yet settled) by the member's jobs of ``day``."""
        return await self._one(
            "SELECT coalesce(sum(reserved_daily), 0) FROM jobs "
            "WHERE guild_id = %s AND user_id = %s AND quota_day = %s AND state = ANY(%s)",
            (guild_id, user_id, day, _UNFINISHED),
        )

    async def report(self, guild_id: int, since: date, days: int, top: int = 10) -> UsageReport:
        """Charged images and jobs of the guild booked on ``since`` or later."""
        args = (guild_id, since)
        cursor = await self._conn.execute(
            "SELECT coalesce(sum(charged), 0), count(*), count(*) FILTER (WHERE state = 'failed') "
            "FROM jobs WHERE guild_id = %s AND quota_day >= %s",
            args,
        )
        row = await cursor.fetchone()
        assert row is not None
        totals = UsageTotals(int(row[0]), int(row[1]), int(row[2]))
        cursor = await self._conn.execute(
            "SELECT user_id, coalesce(sum(charged), 0) AS images FROM jobs "
            "WHERE guild_id = %s AND quota_day >= %s GROUP BY user_id "
            "HAVING coalesce(sum(charged), 0) > 0 ORDER BY images DESC, user_id LIMIT %s",
            (*args, top),
        )
        top_users = tuple((int(r[0]), int(r[1])) for r in await cursor.fetchall())
        cursor = await self._conn.execute(
            "SELECT provider, coalesce(sum(charged), 0), count(*), "
            "count(*) FILTER (WHERE state = 'failed') FROM jobs "
            "WHERE guild_id = %s AND quota_day >= %s AND provider IS NOT NULL "
            'GROUP BY provider ORDER BY provider COLLATE "C"',
            args,
        )
        by_provider = {
            str(r[0]): UsageTotals(int(r[1]), int(r[2]), int(r[3])) for r in await cursor.fetchall()
        }
        # the /quota usage chart's stacks; a job no provider took is under "?"
        cursor = await self._conn.execute(
            "SELECT quota_day, coalesce(provider, '?'), sum(charged) FROM jobs "
            "WHERE guild_id = %s AND quota_day >= %s "
            "GROUP BY quota_day, coalesce(provider, '?') HAVING coalesce(sum(charged), 0) > 0 "
            "ORDER BY quota_day, coalesce(provider, '?') COLLATE \"C\"",
            args,
        )
        per_day = tuple((r[0], str(r[1]), int(r[2])) for r in await cursor.fetchall())
        return UsageReport(guild_id, since, days, totals, top_users, by_provider, per_day)
