"""The engine's one seam for running jobs: the local path (SQLite) or the cluster path (PostgreSQL).

``LocalExecution`` is today's path: the in-memory ``Scheduler`` and a task per job in this
process (``JobWorkers``). ``bot.jobs.cluster.ClusterExecution`` runs the same ``JobRunner``
on procrastinate with the fair line in PostgreSQL. The engine talks only to this Protocol.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.job import Job
from bot.jobs.dispatching import JobWorkers
from bot.jobs.scheduler import Scheduler


class JobExecution(Protocol):
    """Where and when the engine's jobs run."""

    #: set by the engine's stop(): nothing more is started here
    stopping: bool

    @property
    def started(self) -> bool:
        """True from ``start()`` until ``stop()``."""
        ...

    async def start(self) -> None:
        """Start taking jobs (after the engine resumed the ledger's unfinished ones)."""
        ...

    async def stop(self) -> None:
        """Take nothing more; jobs not finished here are left (or handed back) to resume."""
        ...

    async def resume(self, job: Job, provider: str | None) -> None:
        """Make sure an unfinished job will run: queued for ``provider``, or already started
        (``provider`` None); a job already waiting or running is left alone."""
        ...

    async def queued(self, job: Job, provider: str) -> int:
        """A job just created for ``provider`` joins the line; its place in it (1 = next)."""
        ...

    async def withdraw(self, job: Job) -> bool:
        """Take a waiting job out of the line (cancel); False once it has started."""
        ...

    def position(self, job_id: str) -> int | None:
        """The job's place in line (1 = next), or None when it isn't waiting."""
        ...

    async def wake(self, job_id: str) -> bool:
        """Wake the job's wait wherever it runs; False when nothing could be woken."""
        ...

    def kick(self) -> None:
        """Something changed (a job ended or was cancelled): look at the line again."""
        ...


class LocalExecution:
    """The single-process path: the in-memory scheduler and this process's worker tasks."""

    def __init__(self, workers: JobWorkers, scheduler: Scheduler) -> None:
        self._workers = workers
        self._scheduler = scheduler

    @property
    def stopping(self) -> bool:
        """Mirrors the workers' flag (the dispatcher reads it there)."""
        return self._workers.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._workers.stopping = value

    @property
    def started(self) -> bool:
        """True while the dispatcher runs."""
        return self._workers.started

    async def start(self) -> None:
        """Start the dispatcher."""
        self._workers.start()

    async def stop(self) -> None:
        """Cancel every worker; the ledger keeps their jobs for the next start."""
        await self._workers.stop()

    async def resume(self, job: Job, provider: str | None) -> None:
        """Queue or restart a job left by the last process."""
        if self._scheduler.is_waiting(job.id) or self._workers.is_running(job.id):
            return  # created in this process before start()
        if provider is not None:
            self._workers.enqueue(job, provider)
        else:
            self._workers.resume_started(job)

    async def queued(self, job: Job, provider: str) -> int:
        """Queue the new job; its position is announced as the first one."""
        self._workers.enqueue(job, provider)
        position = self._scheduler.position(job.id) or 1
        self._workers.announced(job.id, position)
        return position

    async def withdraw(self, job: Job) -> bool:
        """Out of the queue unless a worker already runs it."""
        if self._workers.is_running(job.id):
            return False
        self._workers.withdraw(job.id)
        return True

    def position(self, job_id: str) -> int | None:
        """From the scheduler."""
        return self._scheduler.position(job_id)

    async def wake(self, job_id: str) -> bool:
        """Only a job running in this process can be woken."""
        return self._workers.wake(job_id)

    def kick(self) -> None:
        """Ask the dispatcher for a round."""
        self._workers.kick()
