"""The job engine: the one object the Discord layer (and the CLI) talks to.

It admits jobs (validation, blocklist, blocks, budget and quota reservation in one
transaction), schedules them fairly, runs each in its own task through ``JobRunner``,
accepts provider callbacks as wake-up hints, and on ``start()`` resumes every unfinished
job in the ledger. It knows nothing of Discord: results leave through a ``Deliverer`` and
progress through an ``EventSink``.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from bot.core.request import GenerationRequest
from bot.core.states import IllegalTransitionError, JobState
from bot.jobs.callbacks import CallbackOutcome, check_callback
from bot.jobs.events import (
    GuardedSink,
    JobCancelled,
    JobEvent,
    JobPositionChanged,
    JobQueued,
)
from bot.jobs.image_store import ImageStore
from bot.jobs.job_runner import JobRunner
from bot.jobs.ledger import JobLedger
from bot.jobs.pipeline import first_candidate
from bot.jobs.scheduler import SchedulerSlots
from bot.metrics import EngineMetrics
from bot.providers.base import Provider
from bot.quotas.rules import QuotaService, QuotaStatus

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class EngineLimits:
    """The operator's limits the engine enforces itself."""

    max_images_per_job: int


class JobEngine:
    """Creates, schedules, runs and resumes jobs.

    Built by the composition root (``bot.root``) from its collaborators; it builds none.
    """

    def __init__(
        self,
        *,
        ledger: JobLedger,
        runner: JobRunner,
        slots: SchedulerSlots,
        store: ImageStore,
        quota: QuotaService,
        providers: Sequence[Provider],
        limits: EngineLimits,
        events: GuardedSink,
        metrics: EngineMetrics,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.quota = quota
        self._providers = list(providers)
        self._events = events
        self._ledger = ledger
        self._store = store
        self._slots = slots
        self._scheduler = slots.scheduler
        self._stop_timeout = stop_timeout
        self._runner = runner
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        self._waiting_jobs: dict[str, Job] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False
        #: create_job calls between their checks and their queueing; stop() lets them land
        self._creating = 0
        self._created = asyncio.Event()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Resume every unfinished job from the ledger, then start taking new ones."""
        if self._dispatcher is not None:
            raise RuntimeError("engine already started")
        self._stopping = False
        unfinished = await self._ledger.unfinished()
        for job_id in await self._store.sweep({job.id for job in unfinished}):
            log.info("job %s: removed the images it left behind", job_id)
        for job in unfinished:
            await self._resume(job)
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")
        self._kick()
        await self.refresh_metrics()

    async def _resume(self, job: Job) -> None:
        if self._scheduler.is_waiting(job.id) or job.id in self._tasks:
            return  # created in this process before start()
        log.info("job %s: resuming from %s", job.id, job.state)
        if job.state is JobState.QUEUED:
            try:
                provider = self._first_provider(job.request, exclude=job.tried_providers)
            except RequestValidationError as exc:
                await self._runner.fail(job.id, "no_provider", exc.user_message)
                return
            self._enqueue(job, provider.name)
            return
        self._scheduler.occupy(job.id, job.user_id, job.provider if job.state.at_provider else None)
        self._spawn(job)

    async def stop(self) -> None:
        """Take no new jobs and stop every worker; unfinished jobs stay in the ledger."""
        self._stopping = True
        while self._creating:  # a job being admitted now is queued, then kept for next start
            self._created.clear()
            await self._created.wait()
        tasks = list(self._tasks.values())
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            for task in pending:
                log.warning("%s did not stop within %.0f s", task.get_name(), self._stop_timeout)
        self._dispatcher = None

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._dispatcher is not None and not self._stopping

    # ----------------------------------------------------------------- public API

    async def create_job(self, spec: JobSpec) -> Job:
        """Validate, admit, reserve and queue a job; raises and changes nothing on refusal.

        Errors: ``RequestValidationError`` (no provider can serve it, or too many images),
        ``BlockedPromptError``, ``BlockedUserError`` (a ``PermissionDeniedError``),
        ``GuildBudgetExceededError``/``QuotaExceededError``, ``ShuttingDownError``.
        """
        if self._stopping:
            raise ShuttingDownError()
        request = spec.request
        limit = self.limits.max_images_per_job
        if not 1 <= request.count <= limit:
            raise RequestValidationError("count", f"must be between 1 and {limit}.")
        provider = self._first_provider(request)
        self._creating += 1
        try:
            job = await self._ledger.create(spec, request)
            log.info("job %s: queued for %s (%d images)", job.id, provider.name, request.count)
            self._enqueue(job, provider.name)
            position = self._scheduler.position(job.id) or 1
            self._positions[job.id] = position
            await self._notify(JobQueued(job, position))
        finally:
            self._creating -= 1
            self._created.set()
        self._kick()
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
        if job.state is not JobState.QUEUED or job.id in self._tasks:
            raise PermissionDeniedError("That job has already started and can't be cancelled.")
        self._scheduler.remove(job.id)
        self._waiting_jobs.pop(job.id, None)
        self._positions.pop(job.id, None)
        try:
            ending = await self._ledger.finish(job.id, JobState.CANCELLED)
        except IllegalTransitionError:
            raise PermissionDeniedError(
                "That job has already started and can't be cancelled."
            ) from None
        await self._store.discard(job.id)
        log.info("job %s: cancelled by %s", job.id, by_user_id)
        await self._notify(JobCancelled(ending.job, by_user_id, ending.settlement.refunded))
        self._kick()
        return ending.job

    def queue_position(self, job_id: str) -> int | None:
        """The job's place in line (1 = next), or None when it isn't waiting."""
        return self._scheduler.position(job_id)

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
        wake = self._wakes.get(job.id)
        if wake is None:
            return CallbackOutcome.IGNORED  # not running here yet; it polls when resumed
        log.debug("job %s: woken by a callback", job.id)
        wake.set()
        return outcome

    async def refresh_metrics(self) -> None:
        """Refresh the jobs-by-state gauge from the ledger (called before each scrape)."""
        self.metrics.set_job_counts(await self._ledger.count_by_state())

    # ----------------------------------------------------------------- scheduling

    def _first_provider(self, request: GenerationRequest, exclude: Sequence[str] = ()) -> Provider:
        return first_candidate(self._providers, request, exclude=exclude)

    def _enqueue(self, job: Job, provider: str) -> None:
        self._scheduler.enqueue(job.id, job.user_id, provider)
        self._waiting_jobs[job.id] = job

    def _kick(self) -> None:
        self._slots.changed.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._slots.changed.wait()
            self._slots.changed.clear()
            if self._stopping:
                return
            try:
                while (dispatch := self._scheduler.next_ready()) is not None:
                    job = self._waiting_jobs.pop(dispatch.job_id)
                    self._positions.pop(dispatch.job_id, None)
                    self._spawn(job)
                await self._announce_positions()
            except Exception:  # one bad round must not stop all scheduling
                log.exception("dispatcher round failed")

    async def _announce_positions(self) -> None:
        positions = self._scheduler.positions()
        for job_id, position in positions.items():
            if self._positions.get(job_id) != position:
                self._positions[job_id] = position
                await self._notify(JobPositionChanged(self._waiting_jobs[job_id], position))

    def _spawn(self, job: Job) -> None:
        wake = self._wakes.setdefault(job.id, asyncio.Event())
        task = asyncio.create_task(self._work(job, wake), name=f"job-{job.id}")
        self._tasks[job.id] = task

    async def _work(self, job: Job, wake: asyncio.Event) -> None:
        try:
            await self._runner.run(job, wake)
        except asyncio.CancelledError:
            log.info("job %s: worker stopped; the job resumes at next start", job.id)
            raise
        except Exception:
            log.exception("job %s: worker crashed", job.id)
            with contextlib.suppress(Exception):
                await self._runner.fail(job.id, "internal", "Something went wrong on our side.")
        finally:
            self._tasks.pop(job.id, None)
            self._wakes.pop(job.id, None)
            self._scheduler.release(job.id)
            self._slots.freed()

    async def _notify(self, event: JobEvent) -> None:
        # ``events`` is a GuardedSink (bot.root): a failing sink is logged, never raised here
        await self._events.on_event(event)
