"""SQL for per-guild, per-member and per-role settings, the prompt blocklist and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow, dict_row
from psycopg.types.json import Jsonb

from bot.core.accounts import AuditEntry, GuildSettings, MemberSettings

_GUILD_FIELDS = frozenset({"daily_quota", "daily_budget", "modlog_channel_id"})
_MEMBER_FIELDS = frozenset({"daily_override", "bonus", "blocked"})
Conn = AsyncConnection[TupleRow]


class PgSettingsRepo:
    """Reads and writes of moderator-controlled settings, inside the caller's transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def guild(self, guild_id: int) -> GuildSettings:
        """The guild's settings (all unset when it has no row)."""
        cursor = await self._conn.execute(
            "SELECT daily_quota, daily_budget, modlog_channel_id FROM guild_settings "
            "WHERE guild_id = %s",
            (guild_id,),
        )
        row = await cursor.fetchone()
        if row is None:
            return GuildSettings(guild_id)
        return GuildSettings(guild_id, row[0], row[1], row[2])

    async def set_guild(self, guild_id: int, now: datetime, **fields: int | None) -> None:
        """Upsert some of ``daily_quota``, ``daily_budget``, ``modlog_channel_id``."""
        await self._upsert("guild_settings", ("guild_id",), (guild_id,), _GUILD_FIELDS, now, fields)

    async def member(self, guild_id: int, user_id: int, *, lock: bool = False) -> MemberSettings:
        """The member's settings (defaults when no row); ``lock``: the row exists afterwards
        and is locked until the transaction ends."""
        if lock:
            await self._conn.execute(
                "INSERT INTO member_settings (guild_id, user_id, updated_at) "
                "VALUES (%s, %s, now()) ON CONFLICT DO NOTHING",
                (guild_id, user_id),
            )
        query = (
            "SELECT daily_override, bonus, blocked FROM member_settings "
            "WHERE guild_id = %s AND user_id = %s"
        )
        cursor = await self._conn.execute(
            query + (" FOR UPDATE" if lock else ""), (guild_id, user_id)
        )
        row = await cursor.fetchone()
        if row is None:
            return MemberSettings(guild_id, user_id)
        return MemberSettings(guild_id, user_id, row[0], row[1], bool(row[2]))

    async def set_member(
        self, guild_id: int, user_id: int, now: datetime, **fields: int | bool | None
    ) -> None:
        """Upsert some of ``daily_override``, ``bonus``, ``blocked``."""
        await self._upsert(
            "member_settings",
            ("guild_id", "user_id"),
            (guild_id, user_id),
            _MEMBER_FIELDS,
            now,
            dict(fields),
        )

    async def add_bonus(self, guild_id: int, user_id: int, delta: int, now: datetime) -> None:
        """Add (or with a negative delta take) bonus credits; the CHECK refuses going below 0."""
        await self._conn.execute(
            "INSERT INTO member_settings (guild_id, user_id, updated_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (guild_id, user_id, now),
        )
        await self._conn.execute(
            "UPDATE member_settings SET bonus = bonus + %s, updated_at = %s "
            "WHERE guild_id = %s AND user_id = %s",
            (delta, now, guild_id, user_id),
        )

    async def take_bonus(self, guild_id: int, user_id: int, amount: int, now: datetime) -> bool:
        """Spend ``amount`` bonus credits only if the member has them; False if not (a
        conditional update: never a CHECK violation that would abort the transaction)."""
        cursor = await self._conn.execute(
            "UPDATE member_settings SET bonus = bonus - %s, updated_at = %s "
            "WHERE guild_id = %s AND user_id = %s AND bonus >= %s RETURNING bonus",
            (amount, now, guild_id, user_id, amount),
        )
        return await cursor.fetchone() is not None

    async def role_allowances(self, guild_id: int) -> dict[int, int]:
        """Every role allowance of the guild, role id → images per day."""
        cursor = await self._conn.execute(
            "SELECT role_id, daily_quota FROM role_allowances WHERE guild_id = %s ORDER BY role_id",
            (guild_id,),
        )
        return {int(r[0]): int(r[1]) for r in await cursor.fetchall()}

    async def set_role_allowance(self, guild_id: int, role_id: int, quota: int | None) -> None:
        """Set a role's daily allowance, or remove it with None."""
        if quota is None:
            await self._conn.execute(
                "DELETE FROM role_allowances WHERE guild_id = %s AND role_id = %s",
                (guild_id, role_id),
            )
            return
        await self._conn.execute(
            "INSERT INTO role_allowances (guild_id, role_id, daily_quota) VALUES (%s, %s, %s) "
            "ON CONFLICT (guild_id, role_id) DO UPDATE SET daily_quota = excluded.daily_quota",
            (guild_id, role_id, quota),
        )

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocked prompt terms, sorted (byte order, as SQLite sorts them)."""
        cursor = await self._conn.execute(
            'SELECT term FROM blocked_terms WHERE guild_id = %s ORDER BY term COLLATE "C"',
            (guild_id,),
        )
        return [str(r[0]) for r in await cursor.fetchall()]

    async def add_term(self, guild_id: int, term: str, added_by: int, now: datetime) -> bool:
        """Add a (casefolded) term; False when it was already there."""
        cursor = await self._conn.execute(
            "INSERT INTO blocked_terms (guild_id, term, added_by, added_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (guild_id, term, added_by, now),
        )
        return cursor.rowcount == 1

    async def remove_term(self, guild_id: int, term: str) -> bool:
        """Remove a term; False when it wasn't there."""
        cursor = await self._conn.execute(
            "DELETE FROM blocked_terms WHERE guild_id = %s AND term = %s", (guild_id, term)
        )
        return cursor.rowcount == 1

    async def lock_blocklist(self, guild_id: int) -> None:
        """Serialise blocklist changes of one guild (they read the list, then write)."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('blocklist:' || %s::text, 0))",
            (guild_id,),
        )

    async def add_audit(
        self,
        *,
        guild_id: int,
        actor_id: int,
        action: str,
        target_id: int | None,
        before: Any,
        after: Any,
        reason: str | None,
        now: datetime,
    ) -> int:
        """Append an audit row; returns its id."""
        cursor = await self._conn.execute(
            "INSERT INTO audit_log (guild_id, actor_id, action, target_id, before, after, reason, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (guild_id, actor_id, action, target_id, Jsonb(before), Jsonb(after), reason, now),
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def audit(self, guild_id: int, limit: int = 50) -> list[AuditEntry]:
        """The guild's latest audit rows, newest first."""
        async with self._conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                "SELECT * FROM audit_log WHERE guild_id = %s ORDER BY id DESC LIMIT %s",
                (guild_id, limit),
            )
            rows = await cursor.fetchall()
        return [
            AuditEntry(
                id=r["id"],
                guild_id=r["guild_id"],
                actor_id=r["actor_id"],
                action=r["action"],
                target_id=r["target_id"],
                before=r["before"],
                after=r["after"],
                reason=r["reason"],
                created_at=r["created_at"].astimezone(UTC),
            )
            for r in rows
        ]

    async def _upsert(
        self,
        table: str,
        key_names: tuple[str, ...],
        key_values: tuple[int, ...],
        allowed: frozenset[str],
        now: datetime,
        fields: dict[str, Any],
    ) -> None:
        unknown = set(fields) - allowed
        if unknown or not fields:
            raise ValueError(f"bad fields for {table}: {sorted(unknown) or 'none'}")
        names = [*key_names, *fields, "updated_at"]
        values = [*key_values, *fields.values(), now]
        query = sql.SQL(
            "INSERT INTO {table} ({names}) VALUES ({marks}) "
            "ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        ).format(
            table=sql.Identifier(table),
            names=sql.SQL(", ").join(map(sql.Identifier, names)),
            marks=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            keys=sql.SQL(", ").join(map(sql.Identifier, key_names)),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n))
                for n in [*fields, "updated_at"]
            ),
        )
        await self._conn.execute(query, values)
