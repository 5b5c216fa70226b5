"""One job from wherever it stands to a final state: submit (failing over), wait, collect, deliver.

Every step is recorded in the ledger before the next begins, so a restart resumes from the
last recorded step: ``queued`` is submitted; ``submitted``/``running`` is polled again (or
resubmitted when there is no task to poll: a synchronous provider's answer dies with the
process); ``delivering`` posts the stored images not yet recorded as posted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Sequence

import httpx

from bot.core.clock import Clock
from bot.core.errors import (
    ImageError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    SeedreamError,
)
from bot.core.ids import new_callback_secret
from bot.core.job import Job, JobImage
from bot.core.localizable import N_
from bot.core.request import GenerationRequest, TaskState, TaskStatus
from bot.core.states import IllegalTransitionError, JobState
from bot.jobs.delivering import JobGoneError, Notify, ResultDelivery
from bot.jobs.delivery import Deliverer
from bot.jobs.events import JobRunning, error_code
from bot.jobs.ledger import JobLedger
from bot.jobs.options import Downloader, ProviderSlots, RunnerConfig, TaskWaiter
from bot.jobs.pipeline import candidates, submit_with_failover, task_failure
from bot.jobs.submitting import submit_to
from bot.jobs.timing import ExpectedSchedule, TaskTimings, kind_of
from bot.jobs.waiting import OnUpdate, PollTrace, Schedule, Sleep, wait_for_task
from bot.metrics import EngineMetrics
from bot.providers.base import Provider
from bot.providers.downloads import download_images
from bot.storage.protocols import ResultImageStore

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "RunnerConfig", "error_code"]


class JobRunner:
    """Drives single jobs; the engine decides when (scheduling) and owns the tasks."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        providers: Sequence[Provider],
        store: ResultImageStore,
        deliverer: Deliverer,
        notify: Notify,
        metrics: EngineMetrics,
        http: httpx.AsyncClient,
        clock: Clock,
        slots: ProviderSlots,
        config: RunnerConfig,
        sleep: Sleep = asyncio.sleep,
        waiter: TaskWaiter | None = None,
        downloader: Downloader | None = None,
        timings: TaskTimings | None = None,
    ) -> None:
        self._ledger = ledger
        self._timings = timings
        self._providers = list(providers)
        self._store = store
        self._notify = notify
        self._metrics = metrics
        self._http = http
        self._clock = clock
        self._slots = slots
        self._config = config
        self._sleep = sleep
        self._waiter: TaskWaiter = waiter or wait_for_task
        self._downloader: Downloader = downloader or download_images
        self._delivery = ResultDelivery(
            ledger=ledger,
            store=store,
            deliverer=deliverer,
            notify=notify,
            metrics=metrics,
            clock=clock,
            config=config,
            sleep=sleep,
        )

    async def run(self, job: Job, wake: asyncio.Event) -> None:
        """Take the job to a final state; provider and image errors fail it with a refund."""
        try:
            await self._run(job, wake)
        except JobGoneError:
            log.info("job %s: left the expected state; worker stops", job.id)
        except IllegalTransitionError as exc:
            log.info("job %s: %s; worker stops", job.id, exc)
        except SeedreamError as exc:
            log.warning("job %s: failed: %s (%s)", job.id, error_code(exc), exc.user_message)
            await self.fail(job.id, error_code(exc), exc.user_message)

    async def _run(self, job: Job, wake: asyncio.Event) -> None:
        status: TaskStatus | None = None
        if job.state is JobState.QUEUED or (job.state.at_provider and self._must_resubmit(job)):
            job, status = await self._submit(job)
        while job.state.at_provider:
            try:
                result = await self._wait(job, wake, status)
            except ProviderUnavailableError:
                # the status endpoint stayed broken or unreadable: the task's fate is
                # unknown, and another provider can still serve the member
                if not self._candidates(job, skip_current=True):
                    raise
                log.warning("job %s: %s stopped answering; failing over", job.id, job.provider)
                job = await self._abandon_attempt(await self._ledger.require(job.id))
                job, status = await self._submit(job)
                continue
            status = None
            if result.state is TaskState.FAILED:
                provider = self._provider(job)
                error, fails_over = task_failure(result, provider)
                self._metrics.provider_error(provider.name, error)
                if fails_over and self._candidates(job, skip_current=True):
                    log.warning("job %s: task failed at %s; failing over", job.id, job.provider)
                    # the wait may have moved it submitted → running: guard on what is stored
                    job = await self._abandon_attempt(await self._ledger.require(job.id))
                    job, status = await self._submit(job)
                    continue
                raise error
            job = await self._collect(job, result)
        if job.state is JobState.DELIVERING:
            await self._delivery.deliver(job)

    def _provider(self, job: Job) -> Provider:
        for provider in self._providers:
            if provider.name == job.provider:
                return provider
        raise ProviderUnavailableError(
            N_("The provider this job was sent to is no longer configured."),
            provider=job.provider,
        )

    def _must_resubmit(self, job: Job) -> bool:
        # no task id: the process died mid-submit; synchronous: the answer died with it
        return job.task_id is None or self._provider(job).capabilities.synchronous

    def _candidates(self, job: Job, *, skip_current: bool = False) -> list[Provider]:
        exclude = (*job.tried_providers, *([job.provider or ""] if skip_current else []))
        return candidates(self._providers, job.request, exclude=exclude)

    async def _abandon_attempt(self, job: Job) -> Job:
        tried = (*job.tried_providers, job.provider or "")
        if not await self._ledger.update(job.id, {job.state}, tried_providers=tried, task_id=None):
            raise JobGoneError
        return await self._ledger.require(job.id)

    async def _submit(self, job: Job) -> tuple[Job, TaskStatus]:
        async def before(provider: Provider) -> str | None:
            await self._slots.acquire(job.id, provider.name)
            await self._slots.turn(provider.name)
            secret, key = new_callback_secret()
            if not await self._ledger.update(
                job.id, {job.state}, provider=provider.name, task_id=None, callback_key=key
            ):
                raise JobGoneError
            if self._config.public_url and provider.capabilities.callbacks:
                return f"{self._config.public_url}/callbacks/{provider.name}/{secret}"
            return None

        async def submit(
            provider: Provider, request: GenerationRequest, callback_url: str | None
        ) -> TaskStatus:
            return await self._submit_to(provider, request, callback_url, job.id)

        async def refused(provider: Provider, error: ProviderError) -> None:
            nonlocal job
            log.warning(
                "job %s: %s refused the submit (%s); failing over",
                job.id,
                provider.name,
                error_code(error),
            )
            job = await self._abandon_attempt(dataclasses.replace(job, provider=provider.name))

        provider, status = await submit_with_failover(
            self._candidates(job), job.request, submit=submit, before=before, refused=refused
        )
        job = await self._ledger.transition(
            job.id,
            JobState.SUBMITTED,
            task_id=status.task_id,
            submitted_at=self._clock(),
            progress=status.progress,
        )
        log.info("job %s: submitted to %s", job.id, provider.name)
        expected = await self.expected(job)
        await self._notify(JobRunning(job, status.progress, expected))
        return job, status

    async def expected(self, job: Job) -> float | None:
        """How long tasks like the job's took from their submit, once there is history."""
        if self._timings is None or job.provider is None:
            return None
        found = await self._timings.expected(kind_of(self._provider(job), job.request))
        return None if found is None else found.typical

    async def _submit_to(
        self, provider: Provider, request: GenerationRequest, callback_url: str | None, job_id: str
    ) -> TaskStatus:
        return await submit_to(
            provider,
            request,
            callback_url,
            job_id,
            slots=self._slots,
            metrics=self._metrics,
            config=self._config,
            sleep=self._sleep,
        )

    async def _wait(self, job: Job, wake: asyncio.Event, status: TaskStatus | None) -> TaskStatus:
        provider = self._provider(job)
        if status is not None and status.state.finished:
            return status
        assert job.task_id is not None
        assert job.submitted_at is not None
        task_id = job.task_id
        current = job
        kind = kind_of(provider, job.request)
        found = None if self._timings is None else await self._timings.expected(kind)

        async def on_update(update: TaskStatus) -> None:
            nonlocal current
            if update.state is TaskState.RUNNING and current.state is JobState.SUBMITTED:
                current = await self._ledger.transition(
                    job.id, JobState.RUNNING, progress=update.progress
                )
            elif update.state.finished or update.progress == current.progress:
                return
            elif await self._ledger.update(job.id, {current.state}, progress=update.progress):
                current = dataclasses.replace(current, progress=update.progress)
            await self._notify(
                JobRunning(current, update.progress, None if found is None else found.typical)
            )

        since_submit = (self._clock() - job.submitted_at).total_seconds()
        remaining = self._config.deadline - since_submit
        schedule: Schedule = self._config.poll_schedule
        if found is not None:
            schedule = ExpectedSchedule(found, self._config.poll_schedule, since_submit)
        trace = PollTrace()
        if remaining <= 0:
            # resumed past the deadline: one last look before giving up
            result = await provider.status(task_id)
            if not result.state.finished:
                raise ProviderTimeoutError(provider=provider.name)
        else:
            result = await self._observed_wait(
                provider, task_id, wake, remaining, on_update, schedule, trace
            )
            seconds = trace.seconds
            if self._timings and seconds is not None and result.state is TaskState.SUCCEEDED:
                await self._timings.record(kind, since_submit + seconds)
        elapsed = (self._clock() - job.submitted_at).total_seconds()
        self._metrics.observe_latency(provider.name, "result", elapsed)
        return result

    async def _observed_wait(
        self,
        provider: Provider,
        task_id: str,
        wake: asyncio.Event,
        remaining: float,
        on_update: OnUpdate,
        schedule: Schedule,
        trace: PollTrace,
    ) -> TaskStatus:
        try:
            return await self._waiter(
                provider,
                task_id,
                wake=wake,
                deadline=remaining,
                on_update=on_update,
                schedule=schedule,
                sleep=self._sleep,
                trace=trace,
                before_poll=functools.partial(self._slots.poll_turn, provider.name),
            )
        except ProviderError as exc:  # timeouts and status errors the waiter gave up on
            self._metrics.provider_error(provider.name, exc)
            raise

    async def _collect(self, job: Job, result: TaskStatus) -> Job:
        blobs = await self._downloader(
            self._http, result.images, max_bytes=self._config.max_image_bytes
        )
        # never deliver (or charge) more than was reserved
        blobs = blobs[: job.cost_reserved]
        same = len(blobs) == len(result.images)
        images: list[JobImage] = []
        for index, data in enumerate(blobs):
            url = result.images[index].url if same else None
            saved = await self._store.save(job.id, index, data, url)
            if saved is not None:
                images.append(saved)
        if not images:
            raise ImageError()
        job = await self._ledger.start_delivering(job.id, images, progress=100)
        self._slots.release_provider(job.id)
        log.info("job %s: %d of %d images stored", job.id, len(images), job.cost_reserved)
        return job

    async def fail(self, job_id: str, code: str, reason: str) -> None:
        """End the job as failed, charging only images already posted; no-op if it ended."""
        await self._delivery.fail(job_id, code, reason)
