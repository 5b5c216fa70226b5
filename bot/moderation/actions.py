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

from datetime import timedelta
from enum import StrEnum

from bot.core.accounts import (
    AuditEntry,
    AuditNote,
    Change,
    GuildField,
    GuildOverview,
    GuildSettings,
    UsageReport,
)
from bot.core.clock import Clock, utc_day, utc_now
from bot.core.errors import RequestValidationError
from bot.core.localizable import N_
from bot.quotas.textmatch import clean_term, term_key
from bot.storage.protocols import ModerationStore

__all__ = ["AuditAction", "Change", "GuildOverview", "GuildSettings", "ModerationService"]

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


class ModerationService:
    """The service the moderator commands call; each method is one audited transaction."""

    def __init__(
        self,
        store: ModerationStore,
        *,
        max_daily_quota: int,
        max_grant: int,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._clock = clock
        self.max_daily_quota = max_daily_quota
        self.max_grant = max_grant

    async def set_user_override(
        self, guild_id: int, actor_id: int, user_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """Give one member their own daily allowance (None clears it)."""
        self._check_daily(daily)
        note = AuditNote(actor_id, AuditAction.USER_OVERRIDE, user_id, reason)
        return await self._store.set_member_override(guild_id, user_id, daily, note)

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
                N_(
                    "must be at most {most} credits per grant, "
                    "the ceiling this bot's operator set (MAX_GRANT)."
                ),
                most=self.max_grant,
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
        note = AuditNote(actor_id, AuditAction.BONUS, user_id, reason)
        return await self._store.change_bonus(guild_id, user_id, delta, note)

    async def reset_usage(
        self, guild_id: int, actor_id: int, user_id: int, reason: str | None
    ) -> Change[int]:
        """Forgive today's charged images. Images held by jobs still in flight stay counted,
        so their later refunds cannot drive the counter below zero."""
        note = AuditNote(actor_id, AuditAction.RESET_USAGE, user_id, reason)
        return await self._store.reset_usage(guild_id, user_id, utc_day(self._clock()), note)

    async def set_guild_default(
        self, guild_id: int, actor_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """The guild's default daily allowance (None: the bot-wide default)."""
        self._check_daily(daily)
        return await self._guild_field(
            guild_id, actor_id, AuditAction.GUILD_DEFAULT, GuildField.DAILY_QUOTA, daily, reason
        )

    async def set_budget(
        self, guild_id: int, actor_id: int, budget: int | None, reason: str | None
    ) -> Change[int | None]:
        """Cap the images the whole guild may generate per UTC day (None: unlimited)."""
        self._check_daily(budget)
        return await self._guild_field(
            guild_id, actor_id, AuditAction.BUDGET, GuildField.DAILY_BUDGET, budget, reason
        )

    async def set_modlog_channel(
        self, guild_id: int, actor_id: int, channel_id: int | None, reason: str | None
    ) -> Change[int | None]:
        """Where moderator actions are announced (None: nowhere)."""
        return await self._guild_field(
            guild_id,
            actor_id,
            AuditAction.MODLOG_CHANNEL,
            GuildField.MODLOG_CHANNEL,
            channel_id,
            reason,
        )

    def _check_daily(self, value: int | None) -> None:
        """Images per UTC day a moderator may set: 0 up to the operator's ceiling."""
        _non_negative("daily", value)
        if value is not None and value > self.max_daily_quota:
            raise RequestValidationError(
                "daily",
                N_(
                    "must be at most {most} images per day, "
                    "the ceiling this bot's operator set (MAX_DAILY_QUOTA)."
                ),
                most=self.max_daily_quota,
            )

    async def _guild_field(
        self,
        guild_id: int,
        actor_id: int,
        action: AuditAction,
        name: GuildField,
        value: int | None,
        reason: str | None,
    ) -> Change[int | None]:
        note = AuditNote(actor_id, action, None, reason)
        return await self._store.set_guild_field(guild_id, name, value, note)

    async def set_role_allowance(
        self, guild_id: int, actor_id: int, role_id: int, daily: int | None, reason: str | None
    ) -> Change[int | None]:
        """A role's daily allowance (members get the best of their roles'); None removes it."""
        self._check_daily(daily)
        note = AuditNote(actor_id, AuditAction.ROLE_ALLOWANCE, role_id, reason)
        return await self._store.set_role_allowance(guild_id, role_id, daily, note)

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
        note = AuditNote(actor_id, AuditAction.BLOCK, user_id, reason)
        return await self._store.set_blocked(guild_id, user_id, blocked, note)

    async def add_blocked_term(
        self, guild_id: int, actor_id: int, term: str, reason: str | None
    ) -> Change[bool]:
        """Block a word or phrase in prompts (``bot.textmatch``: whole words, any case or
        look-alike spelling). before/after: listed (a term with the same key counts)."""
        normalized = normalize_term(term)
        key = term_key(normalized)
        note = AuditNote(actor_id, AuditAction.BLOCKLIST, None, reason, subject=normalized)
        return await self._store.add_blocked_term(
            guild_id, normalized, lambda listed: term_key(listed) == key, note
        )

    async def remove_blocked_term(
        self, guild_id: int, actor_id: int, term: str, reason: str | None
    ) -> Change[bool]:
        """Unblock a word or phrase, and every listed spelling of it. before/after: whether
        it was listed."""
        normalized = normalize_term(term, matchable=False)  # old unmatchable rows go too
        key = term_key(normalized)
        note = AuditNote(actor_id, AuditAction.BLOCKLIST, None, reason, subject=normalized)
        return await self._store.remove_blocked_terms(
            guild_id,
            lambda listed: listed == normalized or bool(key and term_key(listed) == key),
            note,
        )

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocklist (for moderators only: never show it to members)."""
        return await self._store.blocked_terms(guild_id)

    async def overview(self, guild_id: int) -> GuildOverview:
        """The guild's settings at a glance."""
        return await self._store.overview(guild_id)

    async def modlog_channel(self, guild_id: int) -> int | None:
        """The channel to announce moderator actions in, if set."""
        return (await self._store.guild_settings(guild_id)).modlog_channel_id

    async def usage_report(self, guild_id: int, days: int = 7, top: int = 10) -> UsageReport:
        """Images charged over the last ``days`` UTC days (today included): totals, top
        members and per provider."""
        if not 1 <= days <= MAX_REPORT_DAYS:
            raise RequestValidationError(
                "days", N_("must be between 1 and {most}."), most=MAX_REPORT_DAYS
            )
        since = utc_day(self._clock()) - timedelta(days=days - 1)
        return await self._store.usage_report(guild_id, since, days, top)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        """The latest moderator actions, newest first."""
        return await self._store.audit_log(guild_id, limit)


def normalize_term(term: str, *, matchable: bool = True) -> str:
    """A blocklist term in its stored form (``textmatch.clean_term``), checked: not blank, not
    too long and, when ``matchable``, with a letter or digit left to match."""
    if not term.strip():
        raise RequestValidationError("term", N_("must not be empty."))
    normalized = clean_term(term)
    if len(normalized) > MAX_TERM_LENGTH:
        raise RequestValidationError(
            "term", N_("must be at most {most} characters."), most=MAX_TERM_LENGTH
        )
    if not (term_key(normalized) if matchable else normalized):
        raise RequestValidationError(
            "term",
            N_(
                "has no letter or digit (punctuation, symbols and invisible characters only "
                "separate words), so it would match nothing."
            ),
        )
    return normalized


def _non_negative(field: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise RequestValidationError(field, N_("must not be negative."))


def _positive(field: str, value: int) -> None:
    if value < 1:
        raise RequestValidationError(field, N_("must be at least 1."))
