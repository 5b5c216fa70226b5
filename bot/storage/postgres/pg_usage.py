"""SQL for the usage counters (per member, per guild, bot-wide, per UTC day) and usage reports.

Every move is a conditional update (``used + n <= limit``) that says whether it happened, so
a limit holds across processes without a serialisable transaction.
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
        """Images the whole guild took on ``day`` (reserved or charged)."""
        return await self._one(
            "SELECT used FROM guild_usage WHERE guild_id = %s AND day = %s", (guild_id, day)
        )

    async def global_used(self, day: date) -> int:
        """Images every guild together took on ``day`` (reserved or charged)."""
        return await self._one("SELECT used FROM global_usage WHERE day = %s", (day,))

    async def lock_guild(self, guild_id: int, day: date) -> None:
        """Create (if needed) and lock the guild's counter of ``day``: first in the lock order."""
        await self._conn.execute(
            "INSERT INTO guild_usage (guild_id, day) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (guild_id, day),
        )
        await self._conn.execute(
            "SELECT used FROM guild_usage WHERE guild_id = %s AND day = %s FOR UPDATE",
            (guild_id, day),
        )

    async def lock_daily(self, guild_id: int, user_id: int, day: date) -> None:
        """Create (if needed) and lock the member's counter of ``day``: after the guild's."""
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

    async def add_daily(
        self, guild_id: int, user_id: int, day: date, delta: int, *, limit: int | None = None
    ) -> bool:
        """Add ``delta`` to the member's counter unless that passes ``limit``; False if refused.

        A negative result violates the table's CHECK and raises: that would be a ledger bug.
        """
        await self._conn.execute(
            "INSERT INTO daily_usage (guild_id, user_id, day) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (guild_id, user_id, day),
        )
        cursor = await self._conn.execute(
            "UPDATE daily_usage SET used = used + %(d)s "
            "WHERE guild_id = %(g)s AND user_id = %(u)s AND day = %(day)s "
            "AND (%(limit)s::integer IS NULL OR used + %(d)s <= %(limit)s::integer) RETURNING used",
            {"d": delta, "g": guild_id, "u": user_id, "day": day, "limit": limit},
        )
        return await cursor.fetchone() is not None

    async def set_daily(self, guild_id: int, user_id: int, day: date, used: int) -> None:
        """Overwrite the member's counter (a moderator reset)."""
        await self._conn.execute(
            "INSERT INTO daily_usage (guild_id, user_id, day, used) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = excluded.used",
            (guild_id, user_id, day, used),
        )

    async def add_guild(
        self, guild_id: int, day: date, delta: int, *, limit: int | None = None
    ) -> bool:
        """Add ``delta`` to the guild's counter unless that passes ``limit``; False if refused."""
        await self._conn.execute(
            "INSERT INTO guild_usage (guild_id, day) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (guild_id, day),
        )
        cursor = await self._conn.execute(
            "UPDATE guild_usage SET used = used + %(d)s WHERE guild_id = %(g)s AND day = %(day)s "
            "AND (%(limit)s::integer IS NULL OR used + %(d)s <= %(limit)s::integer) RETURNING used",
            {"d": delta, "g": guild_id, "day": day, "limit": limit},
        )
        return await cursor.fetchone() is not None

    async def add_global(self, day: date, delta: int, *, limit: int | None = None) -> bool:
        """Add ``delta`` to the bot-wide counter unless that passes ``limit``; False if refused."""
        await self._conn.execute(
            "INSERT INTO global_usage (day) VALUES (%s) ON CONFLICT DO NOTHING", (day,)
        )
        cursor = await self._conn.execute(
            "UPDATE global_usage SET used = used + %(d)s WHERE day = %(day)s "
            "AND (%(limit)s::integer IS NULL OR used + %(d)s <= %(limit)s::integer) RETURNING used",
            {"d": delta, "day": day, "limit": limit},
        )
        return await cursor.fetchone() is not None

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
        return UsageReport(guild_id, since, days, totals, top_users, by_provider)
