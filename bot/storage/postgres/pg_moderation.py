"""``ModerationStore`` on PostgreSQL: each change and its audit row in one transaction.

A change reads the value it replaces, so it first locks what it changes (the member's row,
the member's counter, the guild's blocklist) and two moderators' changes cannot interleave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from bot.storage.postgres.pg_pool import Conn, Pool, read, transact
from bot.storage.postgres.pg_settings import PgSettingsRepo
from bot.storage.postgres.pg_usage import PgUsageRepo

T = TypeVar("T")
Apply = Callable[[Conn, datetime], Awaitable[tuple[T, T]]]


class PgModerationStore:
    """Moderator settings, the blocklist and the audit log on one pool."""

    def __init__(self, pool: Pool, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    async def set_member_override(
        self, guild_id: int, user_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A member's own daily allowance (None clears it)."""

        async def apply(conn: Conn, now: datetime) -> tuple[int | None, int | None]:
            repo = PgSettingsRepo(conn)
            before = (await repo.member(guild_id, user_id, lock=True)).daily_override
            await repo.set_member(guild_id, user_id, now, daily_override=daily)
            return before, daily

        return await self._audited(guild_id, note, apply)

    async def change_bonus(
        self, guild_id: int, user_id: int, delta: int, note: AuditNote
    ) -> Change[int]:
        """Add or take bonus credits, never below zero."""

        async def apply(conn: Conn, now: datetime) -> tuple[int, int]:
            repo = PgSettingsRepo(conn)
            before = (await repo.member(guild_id, user_id, lock=True)).bonus
            after = max(0, before + delta)
            await repo.add_bonus(guild_id, user_id, after - before, now)
            return before, after

        return await self._audited(guild_id, note, apply)

    async def set_blocked(
        self, guild_id: int, user_id: int, blocked: bool, note: AuditNote
    ) -> Change[bool]:
        """Block or unblock a member."""

        async def apply(conn: Conn, now: datetime) -> tuple[bool, bool]:
            repo = PgSettingsRepo(conn)
            before = (await repo.member(guild_id, user_id, lock=True)).blocked
            await repo.set_member(guild_id, user_id, now, blocked=blocked)
            return before, blocked

        return await self._audited(guild_id, note, apply)

    async def reset_usage(
        self, guild_id: int, user_id: int, day: date, note: AuditNote
    ) -> Change[int]:
        """The member's counter of ``day`` back to what unfinished jobs still hold."""

        async def apply(conn: Conn, now: datetime) -> tuple[int, int]:
            usage = PgUsageRepo(conn)
            # the lock order of a reservation: a job created meanwhile waits, then counts
            await usage.lock_guild(guild_id, day)
            await usage.lock_daily(guild_id, user_id, day)
            before = await usage.daily_used(guild_id, user_id, day)
            after = await usage.in_flight_daily(guild_id, user_id, day)
            await usage.set_daily(guild_id, user_id, day, after)
            return before, after

        return await self._audited(guild_id, note, apply)

    async def set_guild_field(
        self, guild_id: int, name: GuildField, value: int | None, note: AuditNote
    ) -> Change[int | None]:
        """One of the guild's settings."""

        async def apply(conn: Conn, now: datetime) -> tuple[int | None, int | None]:
            repo = PgSettingsRepo(conn)
            await conn.execute(
                "SELECT 1 FROM guild_settings WHERE guild_id = %s FOR UPDATE", (guild_id,)
            )
            before: int | None = getattr(await repo.guild(guild_id), name.value)
            await repo.set_guild(guild_id, now, **{name.value: value})
            return before, value

        return await self._audited(guild_id, note, apply)

    async def set_role_allowance(
        self, guild_id: int, role_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A role's daily allowance, or none."""

        async def apply(conn: Conn, now: datetime) -> tuple[int | None, int | None]:
            repo = PgSettingsRepo(conn)
            before = (await repo.role_allowances(guild_id)).get(role_id)
            await repo.set_role_allowance(guild_id, role_id, daily)
            return before, daily

        return await self._audited(guild_id, note, apply)

    async def add_blocked_term(
        self, guild_id: int, term: str, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """List ``term`` unless a listed term is the same."""

        async def apply(conn: Conn, now: datetime) -> tuple[bool, bool]:
            repo = PgSettingsRepo(conn)
            await repo.lock_blocklist(guild_id)
            if any(same(listed) for listed in await repo.blocked_terms(guild_id)):
                return True, True
            await repo.add_term(guild_id, term, note.actor_id, now)
            return False, True

        return await self._audited(guild_id, note, apply)

    async def remove_blocked_terms(
        self, guild_id: int, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """Unlist every listed term that is the same."""

        async def apply(conn: Conn, now: datetime) -> tuple[bool, bool]:
            repo = PgSettingsRepo(conn)
            await repo.lock_blocklist(guild_id)
            listed = [term for term in await repo.blocked_terms(guild_id) if same(term)]
            for term in listed:
                await repo.remove_term(guild_id, term)
            return bool(listed), False

        return await self._audited(guild_id, note, apply)

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """The guild's settings."""
        return await read(self._pool, lambda conn: PgSettingsRepo(conn).guild(guild_id))

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocklist, sorted."""
        return await read(self._pool, lambda conn: PgSettingsRepo(conn).blocked_terms(guild_id))

    async def overview(self, guild_id: int) -> GuildOverview:
        """The guild's settings at a glance, in one consistent read."""

        async def overview(conn: Conn) -> GuildOverview:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            repo = PgSettingsRepo(conn)
            return GuildOverview(
                await repo.guild(guild_id),
                await repo.role_allowances(guild_id),
                len(await repo.blocked_terms(guild_id)),
            )

        return await transact(self._pool, overview)

    async def usage_report(self, guild_id: int, since: date, days: int, top: int) -> UsageReport:
        """Charged images and jobs of the guild since ``since``."""

        async def report(conn: Conn) -> UsageReport:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return await PgUsageRepo(conn).report(guild_id, since, days, top)

        return await transact(self._pool, report)

    async def audit_log(self, guild_id: int, limit: int) -> list[AuditEntry]:
        """The latest moderator actions, newest first."""
        return await read(self._pool, lambda conn: PgSettingsRepo(conn).audit(guild_id, limit))

    async def _audited(self, guild_id: int, note: AuditNote, apply: Apply[T]) -> Change[T]:
        async def audited(conn: Conn) -> Change[T]:
            now = self._clock()
            before, after = await apply(conn, now)
            audit_id = await PgSettingsRepo(conn).add_audit(
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

        return await transact(self._pool, audited)
