"""SQL for per-guild, per-member and per-role settings, the prompt blocklist and the audit log."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from bot.core.accounts import AuditEntry, GuildSettings, MemberSettings
from bot.storage.sqlite.codec import from_db_time, to_db_time

_GUILD_FIELDS = frozenset({"daily_quota", "daily_budget", "modlog_channel_id"})
_MEMBER_FIELDS = frozenset({"daily_override", "bonus", "blocked"})


class SettingsRepo:
    """Reads and writes of moderator-controlled settings."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def guild(self, guild_id: int) -> GuildSettings:
        """The guild's settings (all unset when it has no row)."""
        row = self._conn.execute(
            "SELECT daily_quota, daily_budget, modlog_channel_id FROM guild_settings "
            "WHERE guild_id = ?",
            (guild_id,),
        ).fetchone()
        if row is None:
            return GuildSettings(guild_id)
        return GuildSettings(guild_id, row[0], row[1], row[2])

    def set_guild(self, guild_id: int, now: datetime, **fields: int | None) -> None:
        """Upsert some of ``daily_quota``, ``daily_budget``, ``modlog_channel_id``."""
        self._upsert("guild_settings", ("guild_id",), (guild_id,), _GUILD_FIELDS, now, fields)

    def member(self, guild_id: int, user_id: int) -> MemberSettings:
        """The member's settings (defaults when no row)."""
        row = self._conn.execute(
            "SELECT daily_override, bonus, blocked FROM member_settings "
            "WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        ).fetchone()
        if row is None:
            return MemberSettings(guild_id, user_id)
        return MemberSettings(guild_id, user_id, row[0], row[1], bool(row[2]))

    def set_member(
        self, guild_id: int, user_id: int, now: datetime, **fields: int | bool | None
    ) -> None:
        """Upsert some of ``daily_override``, ``bonus``, ``blocked``."""
        values = {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}
        self._upsert(
            "member_settings",
            ("guild_id", "user_id"),
            (guild_id, user_id),
            _MEMBER_FIELDS,
            now,
            values,
        )

    def add_bonus(self, guild_id: int, user_id: int, delta: int, now: datetime) -> None:
        """Add (or with a negative delta take) bonus credits; the CHECK refuses going below 0."""
        stamp = to_db_time(now)
        # Insert-then-update: an upsert would CHECK the negative VALUES row before resolving.
        self._conn.execute(
            "INSERT OR IGNORE INTO member_settings (guild_id, user_id, updated_at) "
            "VALUES (?, ?, ?)",
            (guild_id, user_id, stamp),
        )
        self._conn.execute(
            "UPDATE member_settings SET bonus = bonus + ?, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ?",
            (delta, stamp, guild_id, user_id),
        )

    def take_bonus(self, guild_id: int, user_id: int, amount: int, now: datetime) -> bool:
        """Spend ``amount`` bonus credits only if the member has them; False if not."""
        cursor = self._conn.execute(
            "UPDATE member_settings SET bonus = bonus - ?, updated_at = ? "
            "WHERE guild_id = ? AND user_id = ? AND bonus >= ?",
            (amount, to_db_time(now), guild_id, user_id, amount),
        )
        return cursor.rowcount == 1

    def role_allowances(self, guild_id: int) -> dict[int, int]:
        """Every role allowance of the guild, role id → images per day."""
        rows = self._conn.execute(
            "SELECT role_id, daily_quota FROM role_allowances WHERE guild_id = ? ORDER BY role_id",
            (guild_id,),
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    def set_role_allowance(self, guild_id: int, role_id: int, quota: int | None) -> None:
        """Set a role's daily allowance, or remove it with None."""
        if quota is None:
            self._conn.execute(
                "DELETE FROM role_allowances WHERE guild_id = ? AND role_id = ?",
                (guild_id, role_id),
            )
            return
        self._conn.execute(
            "INSERT INTO role_allowances (guild_id, role_id, daily_quota) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id, role_id) DO UPDATE SET daily_quota = excluded.daily_quota",
            (guild_id, role_id, quota),
        )

    def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocked prompt terms, sorted."""
        rows = self._conn.execute(
            "SELECT term FROM blocked_terms WHERE guild_id = ? ORDER BY term",
            (guild_id,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def add_term(self, guild_id: int, term: str, added_by: int, now: datetime) -> bool:
        """Add a (casefolded) term; False when it was already there."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO blocked_terms (guild_id, term, added_by, added_at) "
            "VALUES (?, ?, ?, ?)",
            (guild_id, term, added_by, to_db_time(now)),
        )
        return cursor.rowcount == 1

    def remove_term(self, guild_id: int, term: str) -> bool:
        """Remove a term; False when it wasn't there."""
        cursor = self._conn.execute(
            "DELETE FROM blocked_terms WHERE guild_id = ? AND term = ?", (guild_id, term)
        )
        return cursor.rowcount == 1

    def add_audit(
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
        cursor = self._conn.execute(
            "INSERT INTO audit_log (guild_id, actor_id, action, target_id, before, after, reason, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                actor_id,
                action,
                target_id,
                json.dumps(before),
                json.dumps(after),
                reason,
                to_db_time(now),
            ),
        )
        return int(cursor.lastrowid or 0)

    def audit(self, guild_id: int, limit: int = 50) -> list[AuditEntry]:
        """The guild's latest audit rows, newest first."""
        rows = self._conn.execute(
            "SELECT * FROM audit_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        ).fetchall()
        return [
            AuditEntry(
                id=r["id"],
                guild_id=r["guild_id"],
                actor_id=r["actor_id"],
                action=r["action"],
                target_id=r["target_id"],
                before=json.loads(r["before"]) if r["before"] is not None else None,
                after=json.loads(r["after"]) if r["after"] is not None else None,
                reason=r["reason"],
                created_at=from_db_time(r["created_at"]),
            )
            for r in rows
        ]

    def _upsert(
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
        values = [*key_values, *fields.values(), to_db_time(now)]
        updates = ", ".join(f"{n} = excluded.{n}" for n in [*fields, "updated_at"])
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 - names are whitelisted
            f"VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT ({', '.join(key_names)}) DO UPDATE SET {updates}"
        )
        self._conn.execute(sql, values)
