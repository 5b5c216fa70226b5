"""``ModerationStore`` on SQLite: each change and its audit row in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from bot.core.accounts import (
    AuditEntry,
    AuditNote,
    Change,
    GuildField,
    GuildOverview,
    GuildSettings,
    UsageReport,
)
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.settings_repo import SettingsRepo
from bot.storage.sqlite.usage_repo import UsageRepo

T = TypeVar("T")
Apply = Callable[[sqlite3.Connection, datetime], tuple[T, T]]


class SqliteModerationStore:
    """Moderator settings, the blocklist and the audit log on one ``Database``."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def set_member_override(
        self, guild_id: int, user_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A member's own daily allowance (None clears it)."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).daily_override
            repo.set_member(guild_id, user_id, now, daily_override=daily)
            return before, daily

        return await self._audited(guild_id, note, apply)

    async def change_bonus(
        self, guild_id: int, user_id: int, delta: int, note: AuditNote
    ) -> Change[int]:
        """Add or take bonus credits, never below zero."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[int, int]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).bonus
            after = max(0, before + delta)
            repo.add_bonus(guild_id, user_id, after - before, now)
            return before, after

        return await self._audited(guild_id, note, apply)

    async def set_blocked(
        self, guild_id: int, user_id: int, blocked: bool, note: AuditNote
    ) -> Change[bool]:
        """Block or unblock a member."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).blocked
            repo.set_member(guild_id, user_id, now, blocked=blocked)
            return before, blocked

        return await self._audited(guild_id, note, apply)

    async def reset_usage(
        self, guild_id: int, user_id: int, day: date, note: AuditNote
    ) -> Change[int]:
        """The member's counter of ``day`` back to what unfinished jobs still hold."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[int, int]:
            usage = UsageRepo(conn)
            before = usage.daily_used(guild_id, user_id, day)
            after = usage.in_flight_daily(guild_id, user_id, day)
            usage.set_daily(guild_id, user_id, day, after)
            return before, after

        return await self._audited(guild_id, note, apply)

    async def set_guild_field(
        self, guild_id: int, name: GuildField, value: int | None, note: AuditNote
    ) -> Change[int | None]:
        """One of the guild's settings."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before: int | None = getattr(repo.guild(guild_id), name.value)
            repo.set_guild(guild_id, now, **{name.value: value})
            return before, value

        return await self._audited(guild_id, note, apply)

    async def set_role_allowance(
        self, guild_id: int, role_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A role's daily allowance, or none."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before = repo.role_allowances(guild_id).get(role_id)
            repo.set_role_allowance(guild_id, role_id, daily)
            return before, daily

        return await self._audited(guild_id, note, apply)

    async def add_blocked_term(
        self, guild_id: int, term: str, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """List ``term`` unless a listed term is the same."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            if any(same(listed) for listed in repo.blocked_terms(guild_id)):
                return True, True
            repo.add_term(guild_id, term, note.actor_id, now)
            return False, True

        return await self._audited(guild_id, note, apply)

    async def remove_blocked_terms(
        self, guild_id: int, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """Unlist every listed term that is the same."""

        def apply(conn: sqlite3.Connection, now: datetime) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            listed = [term for term in repo.blocked_terms(guild_id) if same(term)]
            for term in listed:
                repo.remove_term(guild_id, term)
            return bool(listed), False

        return await self._audited(guild_id, note, apply)

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """The guild's settings."""
        return await self._db.run_read(lambda conn: SettingsRepo(conn).guild(guild_id))

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocklist, sorted."""
        return await self._db.run_read(lambda conn: SettingsRepo(conn).blocked_terms(guild_id))

    async def overview(self, guild_id: int) -> GuildOverview:
        """The guild's settings at a glance, in one read."""

        def overview(conn: sqlite3.Connection) -> GuildOverview:
            repo = SettingsRepo(conn)
            return GuildOverview(
                repo.guild(guild_id),
                repo.role_allowances(guild_id),
                len(repo.blocked_terms(guild_id)),
            )

        return await self._db.run_read(overview)

    async def usage_report(self, guild_id: int, since: date, days: int, top: int) -> UsageReport:
        """Charged images and jobs of the guild since ``since``."""
        return await self._db.run_read(
            lambda conn: UsageRepo(conn).report(guild_id, since, days, top)
        )

    async def audit_log(self, guild_id: int, limit: int) -> list[AuditEntry]:
        """The latest moderator actions, newest first."""
        return await self._db.run_read(lambda conn: SettingsRepo(conn).audit(guild_id, limit))

    async def _audited(self, guild_id: int, note: AuditNote, apply: Apply[T]) -> Change[T]:
        def audited(conn: sqlite3.Connection) -> Change[T]:
            now = self._clock()
            before, after = apply(conn, now)
            audit_id = SettingsRepo(conn).add_audit(
                guild_id=guild_id,
                actor_id=note.actor_id,
                action=note.action,
                target_id=note.target_id,
                before=note.recorded(before),
                after=note.recorded(after),
                reason=note.reason,
                now=now,
            )
            return Change(before, after, audit_id)

        return await self._db.run(audited)
