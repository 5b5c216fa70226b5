"""SQL for the usage counters (per member and per guild, per UTC day) and usage reports."""

from __future__ import annotations

import sqlite3
from datetime import date

from bot.core.accounts import UsageReport, UsageTotals
from bot.core.states import UNFINISHED_STATES
from bot.storage.sqlite.codec import from_db_day, to_db_day


class UsageRepo:
    """Counters behind quotas and budgets. Callers run inside a write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def daily_used(self, guild_id: int, user_id: int, day: date) -> int:
        """Images taken from the member's allowance on ``day`` (reserved or charged)."""
        row = self._conn.execute(
            "SELECT used FROM daily_usage WHERE guild_id = ? AND user_id = ? AND day = ?",
            (guild_id, user_id, to_db_day(day)),
        ).fetchone()
        return int(row[0]) if row else 0

    def guild_used(self, guild_id: int, day: date) -> int:
        """Images the whole guild took on ``day`` (reserved or charged)."""
        row = self._conn.execute(
            "SELECT used FROM guild_usage WHERE guild_id = ? AND day = ?",
            (guild_id, to_db_day(day)),
        ).fetchone()
        return int(row[0]) if row else 0

    def add_daily(
        self, guild_id: int, user_id: int, day: date, delta: int, *, limit: int | None = None
    ) -> bool:
        """Add ``delta`` to the member's counter unless that passes ``limit``; False if refused.

        A negative result violates the table's CHECK and raises: that would be a ledger bug.
        """
        key = (guild_id, user_id, to_db_day(day))
        self._conn.execute(
            "INSERT OR IGNORE INTO daily_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, 0)",
            key,
        )
        cursor = self._conn.execute(
            "UPDATE daily_usage SET used = used + ? WHERE guild_id = ? AND user_id = ? AND day = ? "
            "AND (? IS NULL OR used + ? <= ?)",
            (delta, *key, limit, delta, limit),
        )
        return cursor.rowcount == 1

    def set_daily(self, guild_id: int, user_id: int, day: date, used: int) -> None:
        """Overwrite the member's counter (a moderator reset)."""
        self._conn.execute(
            "INSERT INTO daily_usage (guild_id, user_id, day, used) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, user_id, day) DO UPDATE SET used = excluded.used",
            (guild_id, user_id, to_db_day(day), used),
        )

    def add_guild(self, guild_id: int, day: date, delta: int, *, limit: int | None = None) -> bool:
        """Add ``delta`` to the guild's counter unless that passes ``limit``; False if refused."""
        key = (guild_id, to_db_day(day))
        self._conn.execute(
            "INSERT OR IGNORE INTO guild_usage (guild_id, day, used) VALUES (?, ?, 0)", key
        )
        cursor = self._conn.execute(
            "UPDATE guild_usage SET used = used + ? WHERE guild_id = ? AND day = ? "
            "AND (? IS NULL OR used + ? <= ?)",
            (delta, *key, limit, delta, limit),
        )
        return cursor.rowcount == 1

    def global_used(self, day: date) -> int:
        """Images every guild together took on ``day`` (reserved or charged)."""
        row = self._conn.execute(
            "SELECT used FROM global_usage WHERE day = ?", (to_db_day(day),)
        ).fetchone()
        return int(row[0]) if row else 0

    def add_global(self, day: date, delta: int, *, limit: int | None = None) -> bool:
        """Add ``delta`` to the bot-wide counter unless that passes ``limit``; False if refused."""
        key = to_db_day(day)
        self._conn.execute("INSERT OR IGNORE INTO global_usage (day, used) VALUES (?, 0)", (key,))
        cursor = self._conn.execute(
            "UPDATE global_usage SET used = used + ? WHERE day = ? "
            "AND (? IS NULL OR used + ? <= ?)",
            (delta, key, limit, delta, limit),
        )
        return cursor.rowcount == 1

    def in_flight_daily(self, guild_id: int, user_id: int, day: date) -> int:
        """Allowance images still reserved (not yet settled) by the member's jobs of ``day``."""
        marks = ", ".join("?" for _ in UNFINISHED_STATES)
        row = self._conn.execute(
            "SELECT coalesce(sum(reserved_daily), 0) FROM jobs "  # noqa: S608
            f"WHERE guild_id = ? AND user_id = ? AND quota_day = ? AND state IN ({marks})",
            (guild_id, user_id, to_db_day(day), *(s.value for s in UNFINISHED_STATES)),
        ).fetchone()
        return int(row[0]) if row else 0

    def report(self, guild_id: int, since: date, days: int, top: int = 10) -> UsageReport:
        """Charged images and jobs of the guild booked on ``since`` or later."""
        args = (guild_id, to_db_day(since))
        where = "WHERE guild_id = ? AND quota_day >= ?"
        totals_sql = (
            "SELECT coalesce(sum(charged), 0), count(*), "
            "coalesce(sum(state = 'failed'), 0) FROM jobs "
        )
        row = self._conn.execute(totals_sql + where, args).fetchone()
        assert row is not None
        totals = UsageTotals(int(row[0]), int(row[1]), int(row[2]))
        top_rows = self._conn.execute(
            f"SELECT user_id, coalesce(sum(charged), 0) AS images FROM jobs {where} "  # noqa: S608
            "GROUP BY user_id HAVING images > 0 ORDER BY images DESC, user_id LIMIT ?",
            (*args, top),
        ).fetchall()
        top_users = tuple((int(r[0]), int(r[1])) for r in top_rows)
        provider_rows = self._conn.execute(
            totals_sql.replace("SELECT ", "SELECT provider, ")
            + where
            + " AND provider IS NOT NULL GROUP BY provider ORDER BY provider",
            args,
        ).fetchall()
        by_provider = {
            str(r[0]): UsageTotals(int(r[1]), int(r[2]), int(r[3])) for r in provider_rows
        }
        day_rows = self._conn.execute(
            "SELECT quota_day, coalesce(provider, '?'), coalesce(sum(charged), 0) AS images "  # noqa: S608
            f"FROM jobs {where} "
            "GROUP BY quota_day, coalesce(provider, '?') HAVING images > 0 "
            "ORDER BY quota_day, coalesce(provider, '?')",
            args,
        ).fetchall()
        per_day = tuple((from_db_day(r[0]), str(r[1]), int(r[2])) for r in day_rows)
        return UsageReport(guild_id, since, days, totals, top_users, by_provider, per_day)
