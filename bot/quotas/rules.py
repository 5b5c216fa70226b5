"""Image quotas: daily allowances, bonus credits and guild budgets, reserved and settled.

Unit: one image, per member per guild. A job reserves its images in the transaction that
creates it (the allowance first, then bonus credits; the guild budget and the operator's
bot-wide budget count both), and settles when it ends: the images actually delivered are
charged, the rest go back where they came from (bonus first, since allowance images of a
past day are worth nothing). Counters live in ``daily_usage``, ``guild_usage`` and
``global_usage`` and are only ever moved inside a ``BEGIN IMMEDIATE`` transaction, so
concurrent jobs cannot overspend and refunds cannot drive a counter below zero.

The rules here are pure (no I/O): ``admit`` decides over a ``QuotaSnapshot`` a store read
and ``split_refund`` splits a settlement. ``QuotaService`` is the ``QuotaRules`` a store
applies inside its own transactions (``bot.storage.protocols``), plus the member's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from bot.core.accounts import Limit, QuotaSnapshot, Reservation, Settlement
from bot.core.clock import Clock, format_reset, next_reset, utc_day, utc_now
from bot.core.errors import PermissionDeniedError, QuotaExceededError, SeedreamError
from bot.core.job import JobSpec
from bot.core.localizable import N_
from bot.quotas.textmatch import matcher_for
from bot.storage.protocols import QuotaStore


class GuildBudgetExceededError(QuotaExceededError):
    """The whole guild has used its images for the day."""

    code: ClassVar[str] = "guild_budget_exceeded"


class GlobalBudgetExceededError(QuotaExceededError):
    """The bot has made all the images its operator allows per UTC day, across all guilds."""

    code: ClassVar[str] = "global_budget_exceeded"


class BlockedPromptError(SeedreamError):
    """The prompt contains a term the guild blocked (the list itself is never echoed)."""

    code: ClassVar[str] = "blocked_prompt"

    user_message = N_(
        "Your prompt contains a term this server has blocked. Rephrase it and try again."
    )


class BlockedUserError(PermissionDeniedError):
    """A moderator blocked the member from generating images in this guild."""

    code: ClassVar[str] = "blocked_user"

    user_message = N_("You are blocked from generating images in this server.")


@dataclass(frozen=True)
class QuotaStatus:
    """What a member has left today, and when it resets."""

    daily_allowance: int
    used_today: int
    remaining_today: int
    bonus: int
    reset_at: datetime
    blocked: bool
    #: where the allowance comes from: "member", "role", "server" or "default"
    source: str = "default"
    #: the role whose allowance applies, when ``source`` is "role"
    source_role_id: int | None = None

    @property
    def available(self) -> int:
        """Images the member could start right now (ignoring the guild budget)."""
        return 0 if self.blocked else self.remaining_today + self.bonus


def resolve_allowance(
    default: int,
    guild_quota: int | None,
    role_allowances: Mapping[int, int],
    role_ids: Iterable[int],
    override: int | None,
) -> int:
    """The member's daily allowance: their override, else the best of their roles' allowances,
    else the guild default, else the bot default."""
    if override is not None:
        return override
    matched = [role_allowances[r] for r in role_ids if r in role_allowances]
    if matched:
        return max(matched)
    return guild_quota if guild_quota is not None else default


def allowance_source(
    guild_quota: int | None,
    role_allowances: Mapping[int, int],
    role_ids: Iterable[int],
    override: int | None,
) -> tuple[str, int | None]:
    """Which rule ``resolve_allowance`` applies, and the role when it is a role's."""
    if override is not None:
        return "member", None
    matched = [(role_allowances[r], r) for r in role_ids if r in role_allowances]
    if matched:
        return "role", max(matched)[1]
    return ("server", None) if guild_quota is not None else ("default", None)


def split_refund(reserved_daily: int, reserved_bonus: int, charged: int) -> Settlement:
    """Charge allowance images first; give bonus back first."""
    if not 0 <= charged <= reserved_daily + reserved_bonus:
        raise ValueError(f"charged {charged} outside 0..{reserved_daily + reserved_bonus}")
    refund = reserved_daily + reserved_bonus - charged
    refunded_bonus = min(reserved_bonus, refund)
    return Settlement(charged, refund - refunded_bonus, refunded_bonus)


def find_blocked_term(prompt: str, terms: Sequence[str]) -> str | None:
    """The first blocked term in ``prompt`` as ``bot.textmatch`` matches it (whole words,
    any case, look-alike letters and split spellings caught)."""
    return matcher_for(tuple(terms)).find(prompt)


def member_status(
    snapshot: QuotaSnapshot, role_ids: Sequence[int], default: int, now: datetime
) -> QuotaStatus:
    """The member's allowance, use and bonus, from a snapshot of ``now``'s day."""
    guild, member, roles = snapshot.guild, snapshot.member, snapshot.role_allowances
    allowance = resolve_allowance(
        default, guild.daily_quota, roles, role_ids, member.daily_override
    )
    source, role_id = allowance_source(guild.daily_quota, roles, role_ids, member.daily_override)
    return QuotaStatus(
        daily_allowance=allowance,
        used_today=snapshot.daily_used,
        remaining_today=max(0, allowance - snapshot.daily_used),
        bonus=member.bonus,
        reset_at=next_reset(now),
        blocked=member.blocked,
        source=source,
        source_role_id=role_id,
    )


class QuotaService:
    """The quota rules (``bot.storage.protocols.QuotaRules``) and the member's status."""

    def __init__(
        self,
        store: QuotaStore,
        *,
        default_daily_quota: int,
        global_daily_budget: int | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._default = default_daily_quota
        #: the operator's cap on images per UTC day across all guilds (None: no cap)
        self._global_budget = global_daily_budget
        self._clock = clock

    @property
    def default_daily_quota(self) -> int:
        """Images per member per UTC day unless a guild or moderator says otherwise."""
        return self._default

    async def status(self, guild_id: int, user_id: int, role_ids: Sequence[int]) -> QuotaStatus:
        """The member's allowance, use and bonus today."""
        now = self._clock()
        snapshot = await self._store.snapshot(guild_id, user_id, utc_day(now))
        return member_status(snapshot, role_ids, self._default, now)

    async def precheck(self, spec: JobSpec) -> None:
        """Raise what creating ``spec`` would raise from these rules; change nothing."""
        await self._store.precheck(spec, self)

    def today(self) -> date:
        """The UTC day a reservation made now counts against."""
        return utc_day(self._clock())

    def admit(
        self, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int, prompt: str
    ) -> Reservation:
        """Admit and hold ``count`` images, or raise why not (nothing is written here).

        Checks, in order: blocked member, blocked prompt term, guild budget, the operator's
        bot-wide budget, allowance plus bonus. Allowance images are taken first, then bonus.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        status = member_status(snapshot, role_ids, self._default, self._clock())
        if status.blocked:
            raise BlockedUserError()
        if find_blocked_term(prompt, snapshot.blocked_terms) is not None:
            raise BlockedPromptError()
        budget = snapshot.guild.daily_budget
        if budget is not None and snapshot.guild_used + count > budget:
            raise self.refusal(Limit.GUILD, snapshot, role_ids, count)
        overall = self._global_budget
        if overall is not None and snapshot.global_used + count > overall:
            raise self.refusal(Limit.GLOBAL, snapshot, role_ids, count)
        if status.available < count:
            raise self.refusal(Limit.DAILY, snapshot, role_ids, count)
        daily = min(count, status.remaining_today)
        return Reservation(
            snapshot.day,
            daily,
            count - daily,
            daily_limit=status.daily_allowance,
            guild_limit=budget,
            global_limit=overall,
        )

    def refusal(
        self, limit: Limit, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int
    ) -> QuotaExceededError:
        """The member-facing refusal for a spent ``limit``."""
        status = member_status(snapshot, role_ids, self._default, self._clock())
        reset_at = status.reset_at
        if limit is Limit.GUILD:
            budget = snapshot.guild.daily_budget or 0
            return GuildBudgetExceededError(
                N_("This server has used its daily budget of {budget} images; more at {reset}."),
                reset_at=reset_at,
                budget=budget,
                reset=format_reset(reset_at),
            )
        if limit is Limit.GLOBAL:
            # The operator's number stays private; the member only needs to know when.
            return GlobalBudgetExceededError(
                N_(
                    "The bot has made all the images it can today, across all its servers; "
                    "more at {reset}."
                ),
                reset_at=reset_at,
                reset=format_reset(reset_at),
            )
        return _quota_error(status, count)

    def settle(self, reserved_daily: int, reserved_bonus: int, charged: int) -> Settlement:
        """Charge allowance images first; give bonus back first."""
        return split_refund(reserved_daily, reserved_bonus, charged)


def _quota_error(status: QuotaStatus, count: int) -> QuotaExceededError:
    reset = format_reset(status.reset_at)
    at = status.reset_at
    if status.daily_allowance == 0 and status.bonus == 0:
        return QuotaExceededError(
            N_("Your daily image allowance in this server is 0; it may change at {reset}."),
            reset_at=at,
            reset=reset,
        )
    if status.available == 0:
        return QuotaExceededError(
            N_("You have used your {allowance} images for today; more at {reset}."),
            reset_at=at,
            allowance=status.daily_allowance,
            reset=reset,
        )
    if status.bonus:
        return QuotaExceededError(
            N_(
                "You asked for {count} images but have {left} left today plus {bonus} bonus; "
                "ask for fewer, or wait until {reset}."
            ),
            reset_at=at,
            count=count,
            left=status.remaining_today,
            bonus=status.bonus,
            reset=reset,
        )
    return QuotaExceededError(
        N_(
            "You asked for {count} images but have {left} left today; "
            "ask for fewer, or wait until {reset}."
        ),
        reset_at=at,
        count=count,
        left=status.remaining_today,
        reset=reset,
    )
