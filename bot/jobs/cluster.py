"""The cluster path (PostgreSQL): jobs run on procrastinate in whichever process claims them.

The fair line (``bot.jobs.cluster_line``) decides which waiting job starts; the transaction
that admits a job defers a procrastinate task for it, and any process's worker claims and
runs it (the same ``JobRunner`` as the local path). Procrastinate keeps each worker's
heartbeat; every process retries the tasks of workers silent for ``stall_timeout`` once per
``recovery_interval``, so a killed process's jobs resume elsewhere within the sum of both.
On stop the worker claims nothing more and aborts its running tasks, which procrastinate's
retry strategy puts straight back in the queue: another process resumes them at once.
A job resumed anywhere continues from its last recorded step (the ledger's transitions
refuse a second settle, and posted images are recorded, so nothing is charged or posted twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import procrastinate
from procrastinate.exceptions import ProcrastinateException
from psycopg_pool import AsyncConnectionPool

from bot.core.job import Job
from bot.core.request import GenerationRequest
from bot.jobs.cluster_line import Conn, SharedLine
from bot.jobs.events import GuardedSink, JobPositionChanged
from bot.jobs.job_runner import JobRunner
from bot.jobs.ledger import JobLedger
from bot.jobs.pipeline import first_candidate
from bot.jobs.wakeups import WAKE_CHANNEL, Listener, send_wake, wait_event
from bot.providers.base import Provider

log = logging.getLogger(__name__)

TASK_NAME = "seedream.run_job"
QUEUE = "seedream_jobs"


@dataclass(frozen=True)
class ClusterTimings:
    """How fast dead processes are noticed, and how busy a process may get."""

    #: a worker silent (no heartbeat) this long is dead and its jobs are retried
    stall_timeout: float = 30.0
    #: how often each process looks for dead workers' jobs
    recovery_interval: float = 15.0
    #: jobs one process runs at once (the fair line bounds them cluster-wide)
    concurrency: int = 100
    #: the worker looks for tasks at least this often when no notification comes
    fetch_interval: float = 2.0
    #: queue positions are re-read at least this often
    positions_interval: float = 5.0


#: the name of procrastinate's own pool (shown in psycopg's logs)
QUEUE_POOL_NAME = "procrastinate"


class ClusterExecution:
    """``JobExecution`` on procrastinate and the shared fair line."""

    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[Any],
        url: str,
        shared: SharedLine,
        ledger: JobLedger,
        runner: JobRunner,
        providers: Sequence[Provider],
        events: GuardedSink,
        timings: ClusterTimings = ClusterTimings(),
        name: str = "seedream",
    ) -> None:
        self._pool = pool
        self._shared = shared
        self._ledger = ledger
        self._runner = runner
        self._providers = list(providers)
        self._events = events
        self.timings = timings
        self._name = name
        self.stopping = False
        # its own small pool: procrastinate's listener cannot use a pool whose connections
        # are configured autocommit (it passes autocommit again and psycopg refuses); the
        # defers that must share a transaction run on the caller's connection anyway
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=url, min_size=1, max_size=4, name=QUEUE_POOL_NAME
            )
        )
        # any exception that escapes a run is a cancellation (the body catches the rest):
        # retried at once, which is how a stopping process hands its jobs back
        self._task = self.app.task(
            name=TASK_NAME, queue=QUEUE, retry=procrastinate.RetryStrategy()
        )(self._run_job)
        shared.bind(self.defer)
        self._wakes: dict[str, asyncio.Event] = {}
        self._positions: dict[str, int] = {}
        #: jobs created here and still waiting: their cards get position updates from here
        self._announced: dict[str, tuple[Job, int]] = {}
        self._positions_changed = asyncio.Event()
        self._listener = Listener(
            url, {WAKE_CHANNEL: self._on_wake, "seedream_line": self._on_line}
        )
        self._worker: asyncio.Task[None] | None = None
        self._opened = False
        self._side: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ the store's hook

    async def defer(self, conn: Conn, job_id: str) -> None:
        """Enqueue the task that runs ``job_id`` in the caller's transaction."""
        # the job id as queueing lock: never two waiting tasks for one job
        await self._task.configure(connection=conn, queueing_lock=job_id).defer_async(job_id=job_id)

    async def on_created(self, conn: Conn, job: Job) -> None:
        """Called inside the transaction that creates the job and reserves its quota: the
        job joins the fair line there, and is deferred there if it may start at once."""
        provider = self._first_provider(job.request)
        await self._shared.join(conn, job.id, job.user_id, provider)

    def _first_provider(self, request: GenerationRequest) -> str:
        return first_candidate(self._providers, request).name

    # ------------------------------------------------------------ lifecycle

    @property
    def started(self) -> bool:
        """True while this process's worker runs."""
        return self._worker is not None

    async def start(self) -> None:
        """Start the listener, the worker, the recovery and position loops."""
        await self._open()
        self._listener.start()
        self._worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=[QUEUE],
                name=self._name,
                concurrency=self.timings.concurrency,
                install_signal_handlers=False,
                shutdown_graceful_timeout=0,
                fetch_job_polling_interval=self.timings.fetch_interval,
                update_heartbeat_interval=self.timings.stall_timeout / 3,
                stalled_worker_timeout=self.timings.stall_timeout,
                delete_jobs="successful",
            ),
            name="procrastinate-worker",
        )
        self._side = [
            asyncio.create_task(self._recover_loop(), name="job-recovery"),
            asyncio.create_task(self._positions_loop(), name="job-positions"),
        ]

    async def stop(self) -> None:
        """Claim nothing more; running jobs are aborted and go straight back to the queue."""
        self.stopping = True
        for task in self._side:
            task.cancel()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        await asyncio.gather(*self._side, return_exceptions=True)
        self._side = []
        await self._shared.drain()
        await self._listener.stop()
        if self._opened:
            self._opened = False
            await self.app.close_async()

    async def _open(self) -> None:
        if not self._opened:
            await self.app.open_async()
            self._opened = True

    # ------------------------------------------------------------ JobExecution

    async def resume(self, job: Job, provider: str | None) -> None:
        """Put an unfinished job back in the line when nothing holds it (an orphan)."""
        if await self._shared.ensure(job.id, job.user_id, provider):
            log.info("job %s: was held by nothing; back in the line", job.id)

    async def queued(self, job: Job, provider: str) -> int:
        """The store's hook queued the job; read its place in line."""
        await self._refresh_positions()
        position = self._positions.get(job.id)
        if position is not None:
            self._announced[job.id] = (job, position)
        return position or 1

    async def withdraw(self, job: Job) -> bool:
        """Out of the shared line; an admitted job only while no worker has claimed it."""
        removed = await self._shared.withdraw(job.id) or await self._cancel_unclaimed(job.id)
        self._announced.pop(job.id, None)
        self._positions.pop(job.id, None)
        return removed

    async def _cancel_unclaimed(self, job_id: str) -> bool:
        await self._open()
        manager = self.app.job_manager
        for task in await manager.list_jobs_async(queueing_lock=job_id, status="todo"):
            # refused when a worker claimed it meanwhile
            if task.id is not None and await manager.cancel_job_by_id_async(task.id):
                await self._shared.release(job_id)
                return True
        return False

    def position(self, job_id: str) -> int | None:
        """From the last read of the line (refreshed on every change notification)."""
        return self._positions.get(job_id)

    async def wake(self, job_id: str) -> bool:
        """Wake the job wherever it runs (a notification every process hears)."""
        await send_wake(self._pool, job_id)
        return True

    def kick(self) -> None:
        """Re-read positions soon (the line itself is changed by its own transactions)."""
        self._positions_changed.set()

    # ------------------------------------------------------------ the task

    async def _run_job(self, job_id: str) -> None:
        job = await self._ledger.get(job_id)
        if job is not None and not job.state.finished:
            wake = self._wakes.setdefault(job_id, asyncio.Event())
            try:
                log.info("job %s: running here from %s", job_id, job.state)
                await self._runner.run(job, wake)
            except asyncio.CancelledError:
                log.info("job %s: stopped here; handed back to the queue", job_id)
                raise
            except Exception:
                log.exception("job %s: worker crashed", job_id)
                with contextlib.suppress(Exception):
                    await self._runner.fail(job_id, "internal", "Something went wrong on our side.")
            finally:
                self._wakes.pop(job_id, None)
        await self._shared.release(job_id)

    # ------------------------------------------------------------ background loops

    async def _recover_loop(self) -> None:
        manager = self.app.job_manager
        while True:
            try:
                stalled = await manager.get_stalled_jobs(
                    task_name=TASK_NAME, seconds_since_heartbeat=self.timings.stall_timeout
                )
                for task in stalled:
                    try:
                        await manager.retry_job(task)
                        log.warning(
                            "task %s (job %s): its worker died; retried",
                            task.id,
                            task.task_kwargs.get("job_id"),
                        )
                    except ProcrastinateException:
                        pass  # another process retried it first
            except Exception:
                log.exception("looking for stalled jobs failed")
            await asyncio.sleep(self.timings.recovery_interval)

    async def _positions_loop(self) -> None:
        while True:
            await wait_event(self._positions_changed, self.timings.positions_interval)
            self._positions_changed.clear()
            try:
                await self._refresh_positions()
                await self._announce()
            except Exception:
                log.exception("reading queue positions failed")

    async def _refresh_positions(self) -> None:
        self._positions = await self._shared.positions()

    async def _announce(self) -> None:
        for job_id, (job, told) in list(self._announced.items()):
            position = self._positions.get(job_id)
            if position is None:
                del self._announced[job_id]  # started (or cancelled)
            elif position != told:
                self._announced[job_id] = (job, position)
                await self._events.on_event(JobPositionChanged(job, position))

    # ------------------------------------------------------------ notifications

    def _on_wake(self, job_id: str) -> None:
        wake = self._wakes.get(job_id)
        if wake is not None:
            log.debug("job %s: woken by a notification", job_id)
            wake.set()

    def _on_line(self, _payload: str) -> None:
        self._shared.changed.set()
        self._positions_changed.set()
