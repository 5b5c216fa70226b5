"""What moderators can change: allowances, bonus, budgets, blocks, the prompt blocklist.

Every change writes an audit row (who, what, before, after, reason, when) in the same
transaction as the change itself and returns the before/after pair, so the Discord layer
can confirm it and post it to the guild's mod-log channel.

The operator's ceilings bound what a moderator can hand out: no daily allowance, role
allowance or server budget above ``MAX_DAILY_QUOTA``, no single grant above ``MAX_GRANT``.
Taking credits away has no ceiling: it never costs the operator anything. A value over a
ceiling is refused before the transaction: nothing changes and no audit row is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from bot.core.clock import Clock, utc_day, utc_now
from bot.core.errors import RequestValidationError
from bot.db.connection import Database
from bot.db.settings_repo import AuditEntry, GuildSettings, SettingsRepo
from bot.db.usage_repo import UsageRepo, UsageReport
from bot.textmatch import clean_term, term_key

T = TypeVar("T")

MAX_TERM_LENGTH = 100
MAX_REPORT_DAYS = 90


class AuditAction(StrEnum):
    """The ``action`` column of the audit log."""

    USER_OVERRIDE = "user_override"
    BONUS = "bonus"
    RESET_USAGE = "reset_usage"
    GUILD_DEFAULT = "guild_default"
    ROLE_ALLOWANCE = "role_allowance"
    BUDGET = "budget"
    BLOCK = "block"
    BLOCKLIST = "blocklist"
    MODLOG_CHANNEL = "modlog_channel"


@dataclass(frozen=True)
class Change(Generic[T]):
    """A setting before and after a moderator's action, and its audit row id."""

    before: T
    after: T
    audit_id: int

    @property
    def changed(self) -> bool:
        """False when the action left things as they were."""
        return self.before != self.after


@dataclass(frozen=True)
class GuildOverview:
    """A guild's settings and role allowances, for a settings command."""

    settings: GuildSettings
    role_allowances: dict[int, int]
    blocked_term_count: int


class ModerationService:
    """The service the moderator commands call; each method is one audited transaction."""

    def __init__(
        self, db: Database, *, max_daily_quota: int, max_grant: int, clock: Clock = utc_now
    ) -> None:
        self._db = db
        self._clock = clock
        self.max_daily_quota = max_daily_quota
        self.max_grant = max_grant

    async def set_user_override(
        self, guild_id: int, actor_id: int, user_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """Give one member their own daily allowance (None clears it)."""
        self._check_daily(daily)

        def apply(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).daily_override
            repo.set_member(guild_id, user_id, self._clock(), daily_override=daily)
            return before, daily

        return await self._audited(
            guild_id, actor_id, AuditAction.USER_OVERRIDE, user_id, reason, apply
        )

    async def clear_user_override(
        self, guild_id: int, actor_id: int, user_id: int, reason: str | None
    ) -> Change[int | None]:
        """Back to role allowances / the guild default for this member."""
        return await self.set_user_override(guild_id, actor_id, user_id, None, reason)

    async def grant_bonus(
        self, guild_id: int, actor_id: int, user_id: int, amount: int, reason: str | None
    ) -> Change[int]:
        """Add bonus credits (they never expire and are spent after the daily allowance)."""
        _positive("amount", amount)
        if amount > self.max_grant:
            raise RequestValidationError(
                "amount",
                f"must be at most {self.max_grant} credits per grant, "
                "the ceiling this bot's operator set (MAX_GRANT).",
            )
        return await self._change_bonus(guild_id, actor_id, user_id, amount, reason)

    async def remove_bonus(
        self, guild_id: int, actor_id: int, user_id: int, amount: int, reason: str | None
    ) -> Change[int]:
        """Take bonus credits away, never below zero."""
        _positive("amount", amount)
        return await self._change_bonus(guild_id, actor_id, user_id, -amount, reason)

    async def _change_bonus(
        self, guild_id: int, actor_id: int, user_id: int, delta: int, reason: str | None
    ) -> Change[int]:
        def apply(conn: sqlite3.Connection) -> tuple[int, int]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).bonus
            after = max(0, before + delta)
            repo.add_bonus(guild_id, user_id, after - before, self._clock())
            return before, after

        return await self._audited(guild_id, actor_id, AuditAction.BONUS, user_id, reason, apply)

    async def reset_usage(
        self, guild_id: int, actor_id: int, user_id: int, reason: str | None
    ) -> Change[int]:
        """Forgive today's charged images. Images held by jobs still in flight stay counted,
        so their later refunds cannot drive the counter below zero."""

        def apply(conn: sqlite3.Connection) -> tuple[int, int]:
            usage = UsageRepo(conn)
            day = utc_day(self._clock())
            before = usage.daily_used(guild_id, user_id, day)
            after = usage.in_flight_daily(guild_id, user_id, day)
            usage.set_daily(guild_id, user_id, day, after)
            return before, after

        return await self._audited(
            guild_id, actor_id, AuditAction.RESET_USAGE, user_id, reason, apply
        )

    async def set_guild_default(
        self, guild_id: int, actor_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """The guild's default daily allowance (None: the bot-wide default)."""
        self._check_daily(daily)
        return await self._guild_field(
            guild_id, actor_id, AuditAction.GUILD_DEFAULT, "daily_quota", daily, reason
        )

    async def set_budget(
        self, guild_id: int, actor_id: int, budget: int | None, reason: str | None
    ) -> Change[int | None]:
        """Cap the images the whole guild may generate per UTC day (None: unlimited)."""
        self._check_daily(budget)
        return await self._guild_field(
            guild_id, actor_id, AuditAction.BUDGET, "daily_budget", budget, reason
        )

    async def set_modlog_channel(
        self, guild_id: int, actor_id: int, channel_id: int | None, reason: str | None
    ) -> Change[int | None]:
        """Where moderator actions are announced (None: nowhere)."""
        return await self._guild_field(
            guild_id, actor_id, AuditAction.MODLOG_CHANNEL, "modlog_channel_id", channel_id, reason
        )

    def _check_daily(self, value: int | None) -> None:
        """Images per UTC day a moderator may set: 0 up to the operator's ceiling."""
        _non_negative("daily", value)
        if value is not None and value > self.max_daily_quota:
            raise RequestValidationError(
                "daily",
                f"must be at most {self.max_daily_quota} images per day, "
                "the ceiling this bot's operator set (MAX_DAILY_QUOTA).",
            )

    async def _guild_field(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        name: str,
        value: int | None,
        reason: str | None,
    ) -> Change[int | None]:
        def apply(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before: int | None = getattr(repo.guild(guild_id), name)
            repo.set_guild(guild_id, self._clock(), **{name: value})
            return before, value

        return await self._audited(guild_id, actor_id, action, None, reason, apply)

    async def set_role_allowance(
        self, guild_id: int, actor_id: int, role_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """A role's daily allowance (members get the best of their roles'); None removes it."""
        self._check_daily(daily)

        def apply(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
            repo = SettingsRepo(conn)
            before = repo.role_allowances(guild_id).get(role_id)
            repo.set_role_allowance(guild_id, role_id, daily)
            return before, daily

        return await self._audited(
            guild_id, actor_id, AuditAction.ROLE_ALLOWANCE, role_id, reason, apply
        )

    async def block_user(
        self, guild_id: int, actor_id: int, user_id: int, reason: str | None
    ) -> Change[bool]:
        """Stop a member from starting jobs in this guild (jobs in flight finish)."""
        return await self._set_blocked(guild_id, actor_id, user_id, True, reason)

    async def unblock_user(
        self, guild_id: int, actor_id: int, user_id: int, reason: str | None
    ) -> Change[bool]:
        """Let a blocked member start jobs again."""
        return await self._set_blocked(guild_id, actor_id, user_id, False, reason)

    async def _set_blocked(
        self, guild_id: int, actor_id: int, user_id: int, blocked: bool, reason: str | None
    ) -> Change[bool]:
        def apply(conn: sqlite3.Connection) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            before = repo.member(guild_id, user_id).blocked
            repo.set_member(guild_id, user_id, self._clock(), blocked=blocked)
            return before, blocked

        return await self._audited(guild_id, actor_id, AuditAction.BLOCK, user_id, reason, apply)

    async def add_blocked_term(
        self, guild_id: int, actor_id: int, term: str, reason: str | None
    ) -> Change[bool]:
        """Block a word or phrase in prompts (``bot.textmatch``: whole words, any case or
        look-alike spelling). before/after: listed (a term with the same key counts)."""
        normalized = normalize_term(term)
        key = term_key(normalized)

        def apply(conn: sqlite3.Connection) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            if any(term_key(listed) == key for listed in repo.blocked_terms(guild_id)):
                return True, True
            repo.add_term(guild_id, normalized, actor_id, self._clock())
            return False, True

        return await self._audited(
            guild_id, actor_id, AuditAction.BLOCKLIST, None, reason, apply, subject=normalized
        )

    async def remove_blocked_term(
        self, guild_id: int, actor_id: int, term: str, reason: str | None
    ) -> Change[bool]:
        """Unblock a word or phrase, and every listed spelling of it. before/after: whether
        it was listed."""
        normalized = normalize_term(term, matchable=False)  # old unmatchable rows go too
        key = term_key(normalized)

        def apply(conn: sqlite3.Connection) -> tuple[bool, bool]:
            repo = SettingsRepo(conn)
            same = [
                listed
                for listed in repo.blocked_terms(guild_id)
                if listed == normalized or (key and term_key(listed) == key)
            ]
            for listed in same:
                repo.remove_term(guild_id, listed)
            return bool(same), False

        return await self._audited(
            guild_id, actor_id, AuditAction.BLOCKLIST, None, reason, apply, subject=normalized
        )

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocklist (for moderators only: never show it to members)."""
        return await self._db.run_read(lambda conn: SettingsRepo(conn).blocked_terms(guild_id))

    async def overview(self, guild_id: int) -> GuildOverview:
        """The guild's settings at a glance."""

        def overview(conn: sqlite3.Connection) -> GuildOverview:
            repo = SettingsRepo(conn)
            return GuildOverview(
                repo.guild(guild_id),
                repo.role_allowances(guild_id),
                len(repo.blocked_terms(guild_id)),
            )

        return await self._db.run_read(overview)

    async def modlog_channel(self, guild_id: int) -> int | None:
        """The channel to announce moderator actions in, if set."""
        return await self._db.run_read(
            lambda conn: SettingsRepo(conn).guild(guild_id).modlog_channel_id
        )

    async def usage_report(self, guild_id: int, days: int = 7, top: int = 10) -> UsageReport:
        """Images charged over the last ``days`` UTC days (today included): totals, top
        members and per provider."""
        if not 1 <= days <= MAX_REPORT_DAYS:
            raise RequestValidationError("days", f"must be between 1 and {MAX_REPORT_DAYS}.")
        since = utc_day(self._clock()) - timedelta(days=days - 1)
        return await self._db.run_read(
            lambda conn: UsageRepo(conn).report(guild_id, since, days, top)
        )

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """The latest moderator actions, newest first."""
        return await self._db.run_read(lambda conn: SettingsRepo(conn).audit(guild_id, limit))

    async def _audited(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        target_id: int | None,
        reason: str | None,
        apply: Callable[[sqlite3.Connection], tuple[T, T]],
        *,
        subject: str | None = None,
    ) -> Change[T]:
        def audited(conn: sqlite3.Connection) -> Change[T]:
            before, after = apply(conn)
            audit_id = SettingsRepo(conn).add_audit(
                guild_id=guild_id,
                actor_id=actor_id,
                action=action.value,
                target_id=target_id,
                before=_wrap(subject, before),
                after=_wrap(subject, after),
                reason=reason,
                now=self._clock(),
            )
            return Change(before, after, audit_id)

        return await self._db.run(audited)


def normalize_term(term: str, *, matchable: bool = True) -> str:
    """A blocklist term in its stored form (``textmatch.clean_term``), checked: not blank, not
    too long and, when ``matchable``, with a letter or digit left to match."""
    if not term.strip():
        raise RequestValidationError("term", "must not be empty.")
    normalized = clean_term(term)
    if len(normalized) > MAX_TERM_LENGTH:
        raise RequestValidationError("term", f"must be at most {MAX_TERM_LENGTH} characters.")
    if not (term_key(normalized) if matchable else normalized):
        raise RequestValidationError(
            "term",
            "has no letter or digit (punctuation, symbols and invisible characters only "
            "separate words), so it would match nothing.",
        )
    return normalized


def _wrap(subject: str | None, value: object) -> object:
    return value if subject is None else {"term": subject, "listed": value}


def _non_negative(field: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise RequestValidationError(field, "must not be negative.")


def _positive(field: str, value: int) -> None:
    if value < 1:
        raise RequestValidationError(field, "must be at least 1.")
