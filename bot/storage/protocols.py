"""The storage seam: what the engine, quotas and moderation may ask of a store.

Async repository interfaces in domain words, implemented by ``bot.storage.sqlite`` today
and by a PostgreSQL store next. Each method is one transaction (or one consistent read).
Where a method moves quota counters, the *rules* (whether a member is admitted, how a
reservation splits between allowance and bonus, how a refund splits back) are not the
store's: the caller hands in a ``QuotaRules`` and the store reads a ``QuotaSnapshot``,
asks the rules, and applies their answer with guarded updates, all in one transaction.
A store may take row locks, but must lock a member's counters before asking the rules,
always in the same order (guild, then member), so two reservations cannot both pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from typing import Protocol

from bot.core.accounts import (
    AuditEntry,
    AuditNote,
    Change,
    Ending,
    GuildField,
    GuildOverview,
    GuildSettings,
    Limit,
    QuotaSnapshot,
    Reservation,
    Settlement,
    UsageReport,
)
from bot.core.asked import MemberDefaults
from bot.core.job import Job, JobImage, JobSpec, StoredImage
from bot.core.request import GenerationRequest, TaskKind
from bot.core.states import JobState


class QuotaRules(Protocol):
    """The quota rules a store applies inside its transactions (pure: no I/O)."""

    def today(self) -> date:
        """The UTC day a reservation made now counts against."""
        ...

    def admit(
        self, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int, prompt: str
    ) -> Reservation:
        """The reservation for ``count`` images, or raise the refusal (blocked member,
        blocked term, guild budget, bot-wide budget, allowance plus bonus)."""
        ...

    def refusal(
        self, limit: Limit, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int
    ) -> Exception:
        """The error to raise when a guarded update refused ``limit`` after ``admit`` passed
        (a concurrent writer got there first)."""
        ...

    def settle(self, reserved_daily: int, reserved_bonus: int, charged: int) -> Settlement:
        """How a reservation ends: ``charged`` images kept, the rest given back."""
        ...


#: the ``Job`` fields ``JobStore.transition``/``amend`` may set besides state and updated_at
UPDATABLE_JOB_FIELDS = frozenset(
    {
        "provider",
        "task_id",
        "tried_providers",
        "callback_key",
        "progress",
        "charged",
        "error_code",
        "error_message",
        "card_message_id",
        "submitted_at",
        "finished_at",
    }
)


class JobStore(Protocol):
    """Job rows, their images and messages, and the quota moves that go with them.

    ``transition``/``amend`` fields are ``Job`` attribute names among
    ``UPDATABLE_JOB_FIELDS``.
    """

    async def create(self, spec: JobSpec, request: GenerationRequest, rules: QuotaRules) -> Job:
        """Admit the member by ``rules``, reserve the images and insert the job (queued), in
        one transaction; a refusal raises and changes nothing."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """The job with its images and result messages, or None."""
        ...

    async def unfinished(self) -> list[Job]:
        """Every job not yet done, failed or cancelled, oldest first."""
        ...

    async def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild, newest first."""
        ...

    async def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results (``parent_job_id``), oldest first."""
        ...

    async def by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        ...

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        ...

    async def transition(self, job_id: str, new: JobState, **fields: object) -> Job:
        """Move the job to ``new`` (setting ``fields``) only from a state the machine allows;
        raise ``IllegalTransitionError`` otherwise, including when another path got there
        first."""
        ...

    async def amend(self, job_id: str, in_states: Iterable[JobState], **fields: object) -> bool:
        """Set fields without changing state while the job is in ``in_states``; False if it
        no longer is."""
        ...

    async def start_delivering(
        self, job_id: str, images: Sequence[JobImage], **fields: object
    ) -> Job:
        """Record the stored result images and enter ``delivering``, together."""
        ...

    async def mark_delivered(
        self, job_id: str, indexes: Sequence[int], message_id: int | None
    ) -> None:
        """Record images as posted (by ``message_id`` when known); an image already recorded
        keeps its first record."""
        ...

    async def record_posted(
        self,
        job_id: str,
        indexes: Sequence[int],
        message_id: int | None,
        rules: QuotaRules,
        *,
        awaited: Collection[int] | None = None,
    ) -> Ending | None:
        """Record posted images; once none of ``awaited`` (default: every image) is left
        unposted, end the job as done and settle it, in the same transaction. The Ending
        when this call settled the job; None otherwise, or when it was settled already."""
        ...

    async def record_messages(
        self, job_id: str, card_message_id: int | None, result_message_ids: Sequence[int]
    ) -> bool:
        """Remember the job's card and result messages; False when the job doesn't exist."""
        ...

    async def finish(
        self,
        job_id: str,
        new: JobState,
        rules: QuotaRules,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Ending:
        """Enter the final state ``new`` and settle: the images posted are charged, the rest
        refunded, in one transaction, so a job is settled exactly once (a second finish
        raises ``IllegalTransitionError``)."""
        ...


class QuotaStore(Protocol):
    """Quota reads, and the dry run of a reservation."""

    async def snapshot(self, guild_id: int, user_id: int, day: date) -> QuotaSnapshot:
        """What the rules need about the member on ``day``, read consistently."""
        ...

    async def precheck(self, spec: JobSpec, rules: QuotaRules) -> None:
        """Raise what ``JobStore.create`` would raise from ``rules`` for ``spec``; change
        nothing (creating reserves again, so a passed precheck can still be refused)."""
        ...


class ModerationStore(Protocol):
    """Moderator-controlled settings. Each change writes ``note`` as an audit row in the same
    transaction and returns the before/after pair with the row's id."""

    async def set_member_override(
        self, guild_id: int, user_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A member's own daily allowance (None clears it)."""
        ...

    async def change_bonus(
        self, guild_id: int, user_id: int, delta: int, note: AuditNote
    ) -> Change[int]:
        """Add (or, negative, take) bonus credits; the balance never goes below zero."""
        ...

    async def set_blocked(
        self, guild_id: int, user_id: int, blocked: bool, note: AuditNote
    ) -> Change[bool]:
        """Block or unblock a member from starting jobs in the guild."""
        ...

    async def reset_usage(
        self, guild_id: int, user_id: int, day: date, note: AuditNote
    ) -> Change[int]:
        """Forgive the member's charged images of ``day``; images still held by unfinished
        jobs stay counted, so their refunds cannot take the counter below zero."""
        ...

    async def set_guild_field(
        self, guild_id: int, name: GuildField, value: int | None, note: AuditNote
    ) -> Change[int | None]:
        """One of the guild's settings (None: unset)."""
        ...

    async def set_role_allowance(
        self, guild_id: int, role_id: int, daily: int | None, note: AuditNote
    ) -> Change[int | None]:
        """A role's daily allowance; None removes it."""
        ...

    async def add_blocked_term(
        self, guild_id: int, term: str, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """List ``term`` unless a listed term is ``same`` as it; before/after: listed."""
        ...

    async def remove_blocked_terms(
        self, guild_id: int, same: Callable[[str], bool], note: AuditNote
    ) -> Change[bool]:
        """Unlist every listed term that is ``same``; before: any was listed, after: False."""
        ...

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        """The guild's settings (all unset when it has none)."""
        ...

    async def blocked_terms(self, guild_id: int) -> list[str]:
        """The guild's blocked prompt terms, sorted."""
        ...

    async def overview(self, guild_id: int) -> GuildOverview:
        """Settings, role allowances and blocklist size, read together."""
        ...

    async def usage_report(self, guild_id: int, since: date, days: int, top: int) -> UsageReport:
        """Images charged and jobs run in the guild, booked on ``since`` or later."""
        ...

    async def audit_log(self, guild_id: int, limit: int) -> list[AuditEntry]:
        """The guild's latest audit rows, newest first."""
        ...


class StateStore(Protocol):
    """Small values a process keeps between starts (the command-tree hash)."""

    async def get(self, key: str) -> str | None:
        """The value under ``key``, or None."""
        ...

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        ...


class ResultImageStore(Protocol):
    """Where result images wait between download and posting, so a restart (or, on a shared
    store, another host) can still post them: files beside SQLite, bytea in PostgreSQL."""

    async def save(self, job_id: str, index: int, data: bytes, url: str | None) -> JobImage | None:
        """Keep one image; None when the bytes are not a PNG, JPEG or WebP."""
        ...

    async def load(self, job_id: str, image: JobImage) -> StoredImage | None:
        """The image's bytes, or None when they are gone."""
        ...

    async def discard(self, job_id: str) -> None:
        """Delete the job's images (after delivery, failure or cancel)."""
        ...

    async def sweep(self, keep: set[str]) -> list[str]:
        """Delete the images left by settled jobs not in ``keep``; the ids of the jobs swept."""
        ...


class PreferenceStore(Protocol):
    """Members' own ``/settings`` defaults and the styles a server's moderators added."""

    async def member_defaults(self, guild_id: int, user_id: int) -> MemberDefaults:
        """The member's defaults in the guild (all unset when none were saved)."""
        ...

    async def set_member_defaults(
        self, guild_id: int, user_id: int, defaults: MemberDefaults
    ) -> None:
        """Replace the member's defaults in the guild with ``defaults``."""
        ...

    async def clear_member_defaults(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's defaults in the guild; True when there were any."""
        ...

    async def guild_styles(self, guild_id: int) -> dict[str, str]:
        """The guild's styles, name to template, sorted by name."""
        ...

    async def put_guild_style(self, guild_id: int, name: str, template: str, by: int) -> bool:
        """Add or replace a style; True when it replaced one of that name."""
        ...

    async def remove_guild_style(self, guild_id: int, name: str) -> bool:
        """Remove a style; True when it existed."""
        ...


class TimingStore(Protocol):
    """How long provider tasks took: a short rolling history per ``TaskKind``."""

    async def task_times(self, kind: TaskKind, limit: int) -> list[float]:
        """The latest ``limit`` durations (seconds) of tasks of ``kind``, oldest first."""
        ...

    async def record_task_time(self, kind: TaskKind, seconds: float, *, keep: int) -> None:
        """Add one duration; only the latest ``keep`` of that kind are kept."""
        ...


class Store(Protocol):
    """One opened store: its repositories, a health check and closing."""

    @property
    def jobs(self) -> JobStore:
        """Jobs and their quota moves."""
        ...

    @property
    def quotas(self) -> QuotaStore:
        """Quota reads."""
        ...

    @property
    def moderation(self) -> ModerationStore:
        """Moderator settings and the audit log."""
        ...

    @property
    def state(self) -> StateStore:
        """Process state."""
        ...

    @property
    def preferences(self) -> PreferenceStore:
        """Members' defaults and server styles."""
        ...

    @property
    def timings(self) -> TimingStore:
        """Provider task durations."""
        ...

    async def ping(self) -> bool:
        """True when the store answers (for /healthz)."""
        ...

    async def close(self) -> None:
        """Release the connection(s); waits for a transaction in progress."""
        ...
