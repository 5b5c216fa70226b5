"""A collected job's last leg: post its images (retrying within the window), then settle it."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.core.clock import Clock
from bot.core.job import Job
from bot.core.localizable import N_
from bot.core.retry import WindowedBackoff
from bot.core.states import IllegalTransitionError, JobState
from bot.jobs.delivery import Deliverer, DeliveryError
from bot.jobs.events import JobDelivered, JobDeliveryDelayed, JobEvent, JobFailed
from bot.jobs.ledger import Ending, JobLedger
from bot.jobs.options import RunnerConfig
from bot.jobs.waiting import Sleep
from bot.metrics import EngineMetrics
from bot.storage.protocols import ResultImageStore

log = logging.getLogger(__name__)

Notify = Callable[[JobEvent], Awaitable[None]]


class JobGoneError(Exception):
    """The job left the state this worker expected (cancelled or finished elsewhere)."""


class ResultDelivery:
    """Ends a job: delivered and charged for what was posted, or failed with a refund."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        store: ResultImageStore,
        deliverer: Deliverer,
        notify: Notify,
        metrics: EngineMetrics,
        clock: Clock,
        config: RunnerConfig,
        sleep: Sleep,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._deliverer = deliverer
        self._notify = notify
        self._metrics = metrics
        self._clock = clock
        self._config = config
        self._sleep = sleep

    async def deliver(self, job: Job) -> None:
        """Post the stored images not yet posted, retrying within the window, then settle."""
        job_id = job.id
        settled: list[Ending] = []  # filled by the record that settled the job
        awaited: set[int] = set()

        async def posted(message_id: int, indexes: Sequence[int]) -> None:
            # shielded: once Discord has the message, the record must land; the record of
            # the last image also settles the job, in the same transaction
            record = self._ledger.record_posted(job_id, list(indexes), message_id, awaited=awaited)
            ending = await asyncio.shield(record)
            if ending is not None:
                settled.append(ending)

        # the window counts from the submit: the images are ready soon after it, and it is
        # recorded, so a restart goes on counting where the last process was
        since = job.submitted_at or job.created_at
        window = self._config.delivery_retry_window
        backoff = WindowedBackoff(
            window=window,
            backoff=self._config.delivery_backoff,
            first_hour_cap=self._config.delivery_first_hour_cap,
            max_delay=self._config.delivery_max_delay,
        )
        failures = 0
        while not settled:
            pending = [image for image in job.images if not image.delivered]
            loaded = [await self._store.load(job.id, image) for image in pending]
            stored = [image for image in loaded if image is not None]
            if not stored:
                break
            awaited = {image.index for image in stored}

            try:
                message_ids = await self._deliverer.deliver(job, stored, posted)
            except DeliveryError as exc:
                error = exc
            else:
                if not settled:
                    # a deliverer that did not report every message (or any): record the rest
                    last = message_ids[-1] if message_ids else None
                    ending = await self._ledger.record_posted(
                        job.id, sorted(awaited), last, awaited=awaited
                    )
                    settled.extend([ending] if ending is not None else [])
                break
            if settled:
                break  # every image went out before the error: the job is settled
            failures += 1
            elapsed = (self._clock() - since).total_seconds()
            pause = backoff.next_wait(failures, elapsed) if error.retryable else None
            if pause is None:
                log.warning("job %s: delivery failed: %s", job.id, error.user_message)
                reason = _gave_up(window) if error.retryable else error.user_message
                await self.fail(job.id, "delivery", reason)
                return
            if failures == self._config.delivery_attempts:
                until = since + datetime.timedelta(seconds=window)
                await self._notify(JobDeliveryDelayed(job, until))
            log.warning(
                "job %s: delivery failed (%s); trying again in %.1f s",
                job.id,
                error.user_message,
                pause,
            )
            await self._sleep(pause)
            job = await self._ledger.require(job.id)
            if job.state is not JobState.DELIVERING:
                raise JobGoneError
        ending = settled[0] if settled else None
        if ending is None:
            # nothing (more) could be loaded: settle what was posted, if anything was
            job = await self._ledger.require(job.id)
            if not any(image.delivered for image in job.images):
                await self.fail(
                    job.id, "images_lost", N_("The generated images were lost before posting.")
                )
                return
            ending = await self._ledger.finish(job.id, JobState.DONE)
        # settled first, files after: a restart between the two finds a finished job, whose
        # leftover files the engine sweeps away at start
        await self._store.discard(job.id)
        self._metrics.charged(ending.job.provider, ending.settlement.charged)
        log.info(
            "job %s: delivered; charged %d, refunded %d",
            job.id,
            ending.settlement.charged,
            ending.settlement.refunded,
        )
        await self._notify(
            JobDelivered(
                ending.job,
                images=ending.job.images,
                message_ids=ending.job.result_message_ids,
                charged=ending.settlement.charged,
                refunded=ending.settlement.refunded,
            )
        )

    async def fail(self, job_id: str, code: str, reason: str) -> None:
        """End the job as failed, charging only images already posted; no-op if it ended."""
        try:
            ending = await self._ledger.finish(
                job_id, JobState.FAILED, error_code=code, error_message=reason
            )
        except IllegalTransitionError:
            return
        await self._store.discard(job_id)
        self._metrics.charged(ending.job.provider, ending.settlement.charged)
        await self._notify(JobFailed(ending.job, code, reason, ending.settlement.refunded))


def _gave_up(window: float) -> str:
    hours = window / 3600
    span = f"{hours:g} hours" if hours >= 1 else f"{window:g} seconds"
    return f"Discord would not take the images for {span}; they were not posted."
