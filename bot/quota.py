"""Image quotas: daily allowances, bonus credits and guild budgets, reserved and settled.

Unit: one image, per member per guild. A job reserves its images in the transaction that
creates it (the allowance first, then bonus credits; the guild budget and the operator's
bot-wide budget count both), and settles when it ends: the images actually delivered are
charged, the rest go back where they came from (bonus first, since allowance images of a
past day are worth nothing). Counters live in ``daily_usage``, ``guild_usage`` and
``global_usage`` and are only ever moved inside a ``BEGIN IMMEDIATE`` transaction, so
concurrent jobs cannot overspend and refunds cannot drive a counter below zero (the tables'
CHECKs would abort the transaction).

``reserve``, ``settle`` and ``status_in`` are synchronous: they run on the database thread,
inside the function a caller hands to ``Database.run`` (one hop per transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.db.connection import Database
from bot.db.settings_repo import SettingsRepo
from bot.db.usage_repo import UsageRepo
from bot.errors import PermissionDeniedError, QuotaExceededError, SeedreamError
from bot.jobs.models import Job
from bot.textmatch import matcher_for

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def utc_day(now: datetime) -> date:
    """The UTC day ``now`` falls on."""
    return now.astimezone(UTC).date()


def next_reset(now: datetime) -> datetime:
    """The next UTC midnight, when daily allowances and budgets start over."""
    return datetime.combine(utc_day(now) + timedelta(days=1), time(0), tzinfo=UTC)


def format_reset(reset_at: datetime) -> str:
    """``00:00 UTC`` (the Discord layer may render ``reset_at`` as a timestamp instead)."""
    return f"{reset_at:%H:%M} UTC"


class GuildBudgetExceededError(QuotaExceededError):
    """The whole guild has used its images for the day."""


class GlobalBudgetExceededError(QuotaExceededError):
    """The bot has made all the images its operator allows per UTC day, across all guilds."""


class BlockedPromptError(SeedreamError):
    """The prompt contains a term the guild blocked (the list itself is never echoed)."""

    user_message = "Your prompt contains a term this server has blocked. Rephrase it and try again."


class BlockedUserError(PermissionDeniedError):
    """A moderator blocked the member from generating images in this guild."""

    user_message = "You are blocked from generating images in this server."


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


@dataclass(frozen=True)
class Reservation:
    """Images held for one job: from which day's allowance and how many bonus credits."""

    day: date
    daily: int
    bonus: int

    @property
    def total(self) -> int:
        """All images held."""
        return self.daily + self.bonus


@dataclass(frozen=True)
class Settlement:
    """How a reservation ended."""

    charged: int
    refunded_daily: int
    refunded_bonus: int

    @property
    def refunded(self) -> int:
        """All images given back."""
        return self.refunded_daily + self.refunded_bonus


def resolve_allowance(
    default: int,
    guild_quota: int | None,
    role_allowances: dict[int, int],
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
    role_allowances: dict[int, int],
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


class QuotaService:
    """Quota reads for members, and reservation/settlement inside the job transaction."""

    def __init__(
        self,
        db: Database,
        *,
        default_daily_quota: int,
        global_daily_budget: int | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
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
        return await self._db.run_read(self.status_in, guild_id, user_id, role_ids)

    def status_in(
        self, conn: sqlite3.Connection, guild_id: int, user_id: int, role_ids: Sequence[int]
    ) -> QuotaStatus:
        """``status`` on a connection the caller already holds."""
        now = self._clock()
        settings = SettingsRepo(conn)
        guild = settings.guild(guild_id)
        member = settings.member(guild_id, user_id)
        roles = settings.role_allowances(guild_id)
        allowance = resolve_allowance(
            self._default, guild.daily_quota, roles, role_ids, member.daily_override
        )
        source, role_id = allowance_source(
            guild.daily_quota, roles, role_ids, member.daily_override
        )
        used = UsageRepo(conn).daily_used(guild_id, user_id, utc_day(now))
        return QuotaStatus(
            daily_allowance=allowance,
            used_today=used,
            remaining_today=max(0, allowance - used),
            bonus=member.bonus,
            reset_at=next_reset(now),
            blocked=member.blocked,
            source=source,
            source_role_id=role_id,
        )

    def reserve(
        self,
        conn: sqlite3.Connection,
        *,
        guild_id: int,
        user_id: int,
        role_ids: Sequence[int],
        count: int,
        prompt: str,
    ) -> Reservation:
        """Admit and hold ``count`` images, inside the caller's write transaction (``run``).

        Checks, in order: blocked member, blocked prompt term, guild budget, the operator's
        bot-wide budget, allowance plus bonus. Raises the matching error and moves no counter
        when any check fails.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        settings = SettingsRepo(conn)
        usage = UsageRepo(conn)
        status = self.status_in(conn, guild_id, user_id, role_ids)
        if status.blocked:
            raise BlockedUserError()
        if find_blocked_term(prompt, settings.blocked_terms(guild_id)) is not None:
            raise BlockedPromptError()
        day = utc_day(self._clock())
        budget = settings.guild(guild_id).daily_budget
        if budget is not None and usage.guild_used(guild_id, day) + count > budget:
            raise GuildBudgetExceededError(
                _budget_message(budget, status.reset_at), reset_at=status.reset_at
            )
        overall = self._global_budget
        if overall is not None and usage.global_used(day) + count > overall:
            raise GlobalBudgetExceededError(
                _global_message(status.reset_at), reset_at=status.reset_at
            )
        if status.available < count:
            raise QuotaExceededError(_quota_message(status, count), reset_at=status.reset_at)
        daily = min(count, status.remaining_today)
        reservation = Reservation(day, daily, count - daily)
        # Guarded again in SQL: the limits hold even if the checks above had a bug.
        if not usage.add_guild(guild_id, day, count, limit=budget):
            raise GuildBudgetExceededError(
                _budget_message(budget or 0, status.reset_at), reset_at=status.reset_at
            )
        # Counted even without a cap, so a cap set mid-day sees the whole day.
        if not usage.add_global(day, count, limit=overall):
            raise GlobalBudgetExceededError(
                _global_message(status.reset_at), reset_at=status.reset_at
            )
        if daily and not usage.add_daily(
            guild_id, user_id, day, daily, limit=status.daily_allowance
        ):
            raise QuotaExceededError(_quota_message(status, count), reset_at=status.reset_at)
        if reservation.bonus:
            settings.add_bonus(guild_id, user_id, -reservation.bonus, self._clock())
        return reservation

    def settle(self, conn: sqlite3.Connection, job: Job, charged: int) -> Settlement:
        """Charge ``charged`` images of the job's reservation and give back the rest."""
        settlement = split_refund(job.reserved_daily, job.reserved_bonus, charged)
        usage = UsageRepo(conn)
        if settlement.refunded:
            usage.add_guild(job.guild_id, job.quota_day, -settlement.refunded)
            usage.add_global(job.quota_day, -settlement.refunded)
        if settlement.refunded_daily:
            usage.add_daily(job.guild_id, job.user_id, job.quota_day, -settlement.refunded_daily)
        if settlement.refunded_bonus:
            SettingsRepo(conn).add_bonus(
                job.guild_id, job.user_id, settlement.refunded_bonus, self._clock()
            )
        return settlement


def _quota_message(status: QuotaStatus, count: int) -> str:
    reset = format_reset(status.reset_at)
    if status.daily_allowance == 0 and status.bonus == 0:
        return f"Your daily image allowance in this server is 0; it may change at {reset}."
    if status.available == 0:
        return f"You have used your {status.daily_allowance} images for today; more at {reset}."
    bonus = f" plus {status.bonus} bonus" if status.bonus else ""
    return (
        f"You asked for {count} images but have {status.remaining_today} left today{bonus}; "
        f"ask for fewer, or wait until {reset}."
    )


def _budget_message(budget: int, reset_at: datetime) -> str:
    return (
        f"This server has used its daily budget of {budget} images; "
        f"more at {format_reset(reset_at)}."
    )


def _global_message(reset_at: datetime) -> str:
    # The operator's number stays private; the member only needs to know when to come back.
    return (
        "The bot has made all the images it can today, across all its servers; "
        f"more at {format_reset(reset_at)}."
    )
