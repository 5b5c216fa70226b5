"""Records of quotas and moderation that the stores hand out and the quota rules read.

Plain frozen dataclasses, no I/O: a store (SQLite today, PostgreSQL next) fills them from
its tables; the quota rules (``bot.quota``) and moderation (``bot.moderation``) decide with
them. Nothing here knows how they are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bot.core.job import Job, JobSpec
from bot.core.request import GenerationRequest
from bot.core.states import JobState

T = TypeVar("T")


@dataclass(frozen=True)
class GuildSettings:
    """A guild's overrides; None means "not set" (bot default, or unlimited for the budget)."""

    guild_id: int
    daily_quota: int | None = None
    daily_budget: int | None = None
    modlog_channel_id: int | None = None


class GuildField(StrEnum):
    """The guild settings a moderator can change (``GuildSettings`` attribute names)."""

    DAILY_QUOTA = "daily_quota"
    DAILY_BUDGET = "daily_budget"
    MODLOG_CHANNEL = "modlog_channel_id"


@dataclass(frozen=True)
class MemberSettings:
    """One member's overrides in one guild."""

    guild_id: int
    user_id: int
    daily_override: int | None = None
    bonus: int = 0
    blocked: bool = False


@dataclass(frozen=True)
class AuditEntry:
    """One moderator action as recorded."""

    id: int
    guild_id: int
    actor_id: int
    action: str
    target_id: int | None
    before: Any
    after: Any
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class AuditNote:
    """Who makes a moderator change and why: the audit row a store writes with the change."""

    actor_id: int
    action: str
    target_id: int | None = None
    reason: str | None = None
    #: a blocklist change: the term, recorded with before/after as ``{"term", "listed"}``
    subject: str | None = None

    def recorded(self, value: object) -> object:
        """``value`` as the audit row's before/after column holds it (JSON-ready)."""
        return value if self.subject is None else {"term": self.subject, "listed": value}


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


@dataclass(frozen=True)
class UsageTotals:
    """Images charged and jobs run over a period, for a guild, a member or a provider."""

    images: int
    jobs: int
    failed: int


@dataclass(frozen=True)
class UsageReport:
    """A guild's usage over ``days`` UTC days ending today."""

    guild_id: int
    since: date
    days: int
    totals: UsageTotals
    #: (user id, images charged), most first
    top_users: tuple[tuple[int, int], ...]
    by_provider: dict[str, UsageTotals]
    #: (UTC day, provider, images charged) for every day and provider with images, by day
    #: then provider; a job no provider took is under ``"?"``
    per_day: tuple[tuple[date, str, int], ...] = ()


@dataclass(frozen=True)
class QuotaSnapshot:
    """Everything the quota rules read about one member on one UTC day, as one store read
    (inside the transaction that then acts on it, when there is one)."""

    day: date
    guild: GuildSettings
    member: MemberSettings
    role_allowances: Mapping[int, int] = field(default_factory=dict)
    blocked_terms: tuple[str, ...] = ()
    #: images taken from the member's allowance on ``day`` (reserved or charged)
    daily_used: int = 0
    #: images the whole guild took on ``day``
    guild_used: int = 0
    #: images every guild together took on ``day``
    global_used: int = 0


class Limit(StrEnum):
    """A counter a reservation is guarded against."""

    GUILD = "guild"
    GLOBAL = "global"
    DAILY = "daily"


@dataclass(frozen=True)
class Reservation:
    """Images held for one job: from which day's allowance and how many bonus credits, and
    the limits a store must guard each counter with (conditional updates)."""

    day: date
    daily: int
    bonus: int
    #: the member's allowance for ``day``; the daily counter may not pass it
    daily_limit: int | None = None
    #: the guild's budget (None: none)
    guild_limit: int | None = None
    #: the operator's bot-wide budget (None: none)
    global_limit: int | None = None

    @property
    def total(self) -> int:
        """All images held."""
        return self.daily + self.bonus

    def queued_job(
        self, job_id: str, spec: JobSpec, request: GenerationRequest, now: datetime
    ) -> Job:
        """The new job these images are held for, as every store inserts it: queued."""
        return Job(
            id=job_id,
            guild_id=spec.guild_id,
            channel_id=spec.channel_id,
            user_id=spec.user_id,
            kind=spec.kind,
            origin=spec.origin,
            parent_job_id=spec.parent_job_id,
            source_index=spec.source_index,
            action=spec.action,
            door=spec.door,
            request=request,
            state=JobState.QUEUED,
            quota_day=self.day,
            reserved_daily=self.daily,
            reserved_bonus=self.bonus,
            created_at=now,
            updated_at=now,
        )


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


@dataclass(frozen=True)
class Ending:
    """A job after its final transition, and how its reservation was settled."""

    job: Job
    settlement: Settlement
