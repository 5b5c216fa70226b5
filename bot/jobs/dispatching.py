"""The engine's workers: a task per running job, the dispatcher that starts them, positions."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core.job import Job
from bot.jobs.events import GuardedSink, JobPositionChanged
from bot.jobs.job_runner import JobRunner
from bot.jobs.scheduler import SchedulerSlots

log = logging.getLogger(__name__)

#: queue positions are announced (card edits) while a job is this close to the front; behind
#: that, a job keeps the position it was told on arrival until it gets there: with thousands
#: waiting, every start would otherwise edit thousands of cards
ANNOUNCED_POSITIONS = 25


class JobWorkers:
    """Starts queued jobs as the scheduler frees slots and runs each in its own task."""

    def __init__(
        self, *, runner: JobRunner, slots: SchedulerSlots, events: GuardedSink, stop_timeout: float
    ) -> None:
        self._runner = runner
        self._stop_timeout = stop_timeout
        self._slots = slots
        self._scheduler = slots.scheduler
        self._events = events
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        self._waiting_jobs: dict[str, Job] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        #: set by the engine's stop(): the dispatcher starts nothing more
        self.stopping = False

    @property
    def started(self) -> bool:
        """True while the dispatcher task exists (``start()`` until ``stop()``)."""
        return self._dispatcher is not None

    def start(self) -> None:
        """Start the dispatcher and let it look at the queue at once."""
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="job-dispatcher")
        self.kick()

    async def stop(self) -> None:
        """Cancel every worker and the dispatcher; wait up to the stop timeout for them."""
        timeout = self._stop_timeout
        tasks = list(self._tasks.values())
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning("%s did not stop within %.0f s", task.get_name(), timeout)
        self._dispatcher = None

    def is_running(self, job_id: str) -> bool:
        """True when the job has a worker task in this process."""
        return job_id in self._tasks

    def enqueue(self, job: Job, provider: str) -> None:
        """Queue the job for the provider; the dispatcher starts it when a slot frees."""
        self._scheduler.enqueue(job.id, job.user_id, provider)
        self._waiting_jobs[job.id] = job

    def announced(self, job_id: str, position: int) -> None:
        """Remember the position the member was told, so only changes are announced."""
        self._positions[job_id] = position

    def withdraw(self, job_id: str) -> None:
        """Take a waiting job out of the queue (it was cancelled)."""
        self._scheduler.remove(job_id)
        self._waiting_jobs.pop(job_id, None)
        self._positions.pop(job_id, None)

    def resume_started(self, job: Job) -> None:
        """Run a job that was past the queue when the last process stopped."""
        self._scheduler.occupy(job.id, job.user_id, job.provider if job.state.at_provider else None)
        self._spawn(job)

    def wake(self, job_id: str) -> bool:
        """Wake the job's wait early; False when it has no worker here yet."""
        wake = self._wakes.get(job_id)
        if wake is None:
            return False
        wake.set()
        return True

    def kick(self) -> None:
        """Ask the dispatcher for a round (the queue or the free slots changed)."""
        self._slots.changed.set()

    async def _dispatch_loop(self) -> None:
        while True:
            await self._slots.changed.wait()
            self._slots.changed.clear()
            if self.stopping:
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
            if position > ANNOUNCED_POSITIONS:
                continue
            if self._positions.get(job_id) != position:
                self._positions[job_id] = position
                # a GuardedSink (bot.root): a failing sink is logged, never raised here
                await self._events.on_event(
                    JobPositionChanged(self._waiting_jobs[job_id], position)
                )

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
