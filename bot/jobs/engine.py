"""The job engine: the one object the Discord layer (and the CLI) talks to.

It admits jobs (validation, blocklist, blocks, budget and quota reservation in one
transaction), schedules them fairly and runs them through one seam (``JobExecution``: in
this process on SQLite, on procrastinate across processes on PostgreSQL; both call
``JobRunner``), accepts provider callbacks as wake-up hints, and on ``start()`` resumes
every unfinished job in the ledger. It knows nothing of Discord: results leave
through a ``Deliverer`` and progress through an ``EventSink``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.errors import (
    JobNotFoundError,
    PermissionDeniedError,
    RequestValidationError,
    ShuttingDownError,
)
from bot.core.job import Job, JobSpec
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.core.states import IllegalTransitionError, JobState
from bot.jobs.callbacks import CallbackOutcome, check_callback
from bot.jobs.events import GuardedSink, JobCancelled, JobEvent, JobQueued
from bot.jobs.execution import JobExecution
from bot.jobs.job_runner import JobRunner
from bot.jobs.ledger import JobLedger
from bot.jobs.pipeline import first_candidate
from bot.metrics import EngineMetrics
from bot.providers.base import Provider
from bot.quotas.rules import QuotaService, QuotaStatus
from bot.storage.protocols import ResultImageStore

log = logging.getLogger(__name__)

ALREADY_STARTED = N_("That job has already started and can't be cancelled.")

STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class EngineLimits:
    """The operator's limits the engine enforces itself."""

    max_images_per_job: int
    #: a storyboard's frames are capped by this instead of ``max_images_per_job``
    max_storyboard_frames: int = 15


class JobEngine:
    """Creates, schedules, runs and resumes jobs.

    Built by the composition root (``bot.root``) from its collaborators; it builds none.
    """

    def __init__(
        self,
        *,
        ledger: JobLedger,
        runner: JobRunner,
        execution: JobExecution,
        store: ResultImageStore,
        quota: QuotaService,
        providers: Sequence[Provider],
        limits: EngineLimits,
        events: GuardedSink,
        metrics: EngineMetrics,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.quota = quota
        self._providers = list(providers)
        self._events = events
        self._ledger = ledger
        self._store = store
        self._runner = runner
        self._workers = execution
        #: create_job calls between their checks and their queueing; stop() lets them land
        self._creating = 0
        self._created = asyncio.Event()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Resume every unfinished job from the ledger, then start taking new ones."""
        if self._workers.started:
            raise RuntimeError("engine already started")
        self._workers.stopping = False
        unfinished = await self._ledger.unfinished()
        for job_id in await self._store.sweep({job.id for job in unfinished}):
            log.info("job %s: removed the images it left behind", job_id)
        for job in unfinished:
            await self._resume(job)
        await self._workers.start()
        await self.refresh_metrics()

    async def _resume(self, job: Job) -> None:
        log.info("job %s: resuming from %s", job.id, job.state)
        if job.state is JobState.QUEUED:
            try:
                provider = self._first_provider(job.request, exclude=job.tried_providers)
            except RequestValidationError as exc:
                await self._runner.fail(job.id, "no_provider", exc.user_message)
                return
            await self._workers.resume(job, provider.name)
            return
        await self._workers.resume(job, None)

    async def stop(self) -> None:
        """Take no new jobs and stop every worker; unfinished jobs stay in the ledger."""
        self._workers.stopping = True
        while self._creating:  # a job being admitted now is queued, then kept for next start
            self._created.clear()
            await self._created.wait()
        await self._workers.stop()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._workers.started and not self._workers.stopping

    # ----------------------------------------------------------------- public API

    async def create_job(self, spec: JobSpec) -> Job:
        """Validate, admit, reserve and queue a job; raises and changes nothing on refusal.

        Errors: ``RequestValidationError`` (no provider can serve it, or too many images),
        ``BlockedPromptError``, ``BlockedUserError`` (a ``PermissionDeniedError``),
        ``GuildBudgetExceededError``/``QuotaExceededError``, ``ShuttingDownError``.
        """
        if self._workers.stopping:
            raise ShuttingDownError()
        request = spec.request
        if request.sequential:
            limit = self.limits.max_storyboard_frames
            if not 2 <= request.count <= limit:
                raise RequestValidationError(
                    "frames", N_("must be between 2 and {most}."), most=limit
                )
        elif not 1 <= request.count <= self.limits.max_images_per_job:
            limit = self.limits.max_images_per_job
            raise RequestValidationError("count", N_("must be between 1 and {most}."), most=limit)
        provider = self._first_provider(request)
        self._creating += 1
        try:
            job = await self._ledger.create(spec, request)
            log.info("job %s: queued for %s (%d images)", job.id, provider.name, request.count)
            position = await self._workers.queued(job, provider.name)
            await self._notify(JobQueued(job, position))
        finally:
            self._creating -= 1
            self._created.set()
        self._workers.kick()
        return job

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None."""
        return await self._ledger.get(job_id)

    async def get_job_for_user(self, job_id: str, user_id: int) -> Job:
        """The member's own job; ``JobNotFoundError`` for a missing job or someone else's."""
        job = await self._ledger.get(job_id.strip().lower())
        if job is None or job.user_id != user_id:
            raise JobNotFoundError()
        return job

    async def child_jobs(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results (its lineage's children), oldest first."""
        return await self._ledger.children(job_id)

    async def recent_jobs(self, guild_id: int, user_id: int, limit: int = 5) -> list[Job]:
        """The member's latest jobs in the guild, newest first (for autocomplete)."""
        return await self._ledger.recent(guild_id, user_id, limit)

    async def quota_status(
        self, guild_id: int, user_id: int, role_ids: Sequence[int]
    ) -> QuotaStatus:
        """Allowance, use, remaining, bonus, reset time and block flag of the member today."""
        return await self.quota.status(guild_id, user_id, role_ids)

    async def cancel_job(self, job_id: str, by_user_id: int, *, is_moderator: bool) -> Job:
        """Cancel a job still waiting in the queue and refund it in full.

        ``JobNotFoundError`` when missing (or not the caller's, for non-moderators);
        ``PermissionDeniedError`` once it has started (a provider may already be working).
        """
        job = await self._ledger.get(job_id)
        if job is None or (job.user_id != by_user_id and not is_moderator):
            raise JobNotFoundError()
        if job.state is not JobState.QUEUED or not await self._workers.withdraw(job):
            raise PermissionDeniedError(ALREADY_STARTED)
        try:
            ending = await self._ledger.finish(job.id, JobState.CANCELLED)
        except IllegalTransitionError:
            raise PermissionDeniedError(ALREADY_STARTED) from None
        await self._store.discard(job.id)
        log.info("job %s: cancelled by %s", job.id, by_user_id)
        await self._notify(JobCancelled(ending.job, by_user_id, ending.settlement.refunded))
        self._workers.kick()
        return ending.job

    async def expected_seconds(self, job: Job) -> float | None:
        """For a job at its provider: how long tasks like it took from their submit (the
        median of the recent ones), or None without enough history."""
        if not job.state.at_provider:
            return None
        return await self._runner.expected(job)

    def queue_position(self, job_id: str) -> int | None:
        """The job's place in line (1 = next), or None when it isn't waiting."""
        return self._workers.position(job_id)

    async def record_messages(
        self,
        job_id: str,
        *,
        card_message_id: int | None = None,
        result_message_ids: Sequence[int] = (),
    ) -> None:
        """Remember the Discord messages the job posted (its card, extra result messages)."""
        if not await self._ledger.record_messages(job_id, card_message_id, result_message_ids):
            raise JobNotFoundError()

    async def handle_callback(
        self, provider_name: str, secret: str, body: bytes
    ) -> CallbackOutcome:
        """A provider's callback: at most wakes the job, which then asks the provider itself."""
        outcome, job = await check_callback(
            self._ledger, self._providers, provider_name, secret, body
        )
        if job is None:
            return outcome
        if not await self._workers.wake(job.id):
            return CallbackOutcome.IGNORED  # not running here yet; it polls when resumed
        log.debug("job %s: woken by a callback", job.id)
        return outcome

    async def refresh_metrics(self) -> None:
        """Refresh the jobs-by-state gauge from the ledger (called before each scrape)."""
        self.metrics.set_job_counts(await self._ledger.count_by_state())

    # ----------------------------------------------------------------- scheduling

    def _first_provider(self, request: GenerationRequest, exclude: Sequence[str] = ()) -> Provider:
        return first_candidate(self._providers, request, exclude=exclude)

    async def _notify(self, event: JobEvent) -> None:
        # ``events`` is a GuardedSink (bot.root): a failing sink is logged, never raised here
        await self._events.on_event(event)
