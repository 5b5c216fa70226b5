"""The fair line's transactions on the cluster path: queue, admit and defer, release, slots.

Each method is one transaction on the shared pool that changes the line (under its
advisory lock, ``bot.jobs.fair_line``) and, in the same transaction, defers a procrastinate
task for every job it admits, so a job is never admitted without being enqueued for a
worker, nor enqueued twice. Every change is announced on ``LINE_CHANNEL`` (sent at commit),
which wakes jobs waiting for a provider slot and refreshes queue positions everywhere.
Also the runner's ``ProviderSlots`` on this path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from bot.jobs.concurrency import ProviderLimits
from bot.jobs.fair_line import FairLine
from bot.jobs.scheduler import Dispatch
from bot.jobs.wakeups import wait_event

log = logging.getLogger(__name__)

Conn = AsyncConnection[Any]
Pool = AsyncConnectionPool[Any]
#: defers the procrastinate task that runs a job, on the given connection (its transaction)
Defer = Callable[[Conn, str], Awaitable[None]]

#: NOTIFY channel: the line changed (a slot freed, a job joined or left)
LINE_CHANNEL = "seedream_line"
#: how long a job waiting for a provider slot sleeps when no notification comes
SLOT_POLL = 1.0


class SharedLine:
    """The fair line as this process uses it, over a connection pool."""

    def __init__(self, pool: Pool, line: FairLine, limits: ProviderLimits | None = None) -> None:
        self._pool = pool
        self.line = line
        #: this process's adaptive limits, pauses and pacing (admission reads them too)
        self.limits = limits
        self._defer: Defer | None = None
        #: a job's slot release still running in the background (``refused``)
        self._releasing: dict[str, asyncio.Task[None]] = {}
        #: set when a notification says the line changed (``bot.jobs.wakeups``)
        self.changed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    def bind(self, defer: Defer) -> None:
        """Set how admitted jobs are deferred (the execution that runs them)."""
        self._defer = defer

    async def _deferred(self, conn: Conn, job_id: str) -> None:
        if self._defer is None:
            raise RuntimeError("SharedLine.bind() was not called")
        await self._defer(conn, job_id)

    async def _admit(self, conn: Conn) -> list[Dispatch]:
        admitted = await self.line.admit_all(conn)
        for dispatch in admitted:
            await self._deferred(conn, dispatch.job_id)
        await conn.execute("SELECT pg_notify(%s, '')", (LINE_CHANNEL,))
        return admitted

    async def _transact(self, fn: Callable[[Conn], Awaitable[Any]]) -> Any:
        async with self._pool.connection() as conn, conn.transaction():
            return await fn(conn)

    async def join(self, conn: Conn, job_id: str, user_id: int, provider: str) -> None:
        """Queue a job in the caller's transaction (the one creating it) and admit what may
        start now, deferring each admitted job in that same transaction."""
        await self.line.enqueue(conn, job_id, user_id, provider)
        admitted = await self._admit(conn)
        log.debug("job %s: joined the line; admitted %s", job_id, [d.job_id for d in admitted])

    async def ensure(self, job_id: str, user_id: int, provider: str | None) -> bool:
        """Put an unfinished job back in the line if nothing holds it (neither waiting nor
        in flight): queued for ``provider``, or, already started, straight into flight.
        True when it had to."""

        async def ensure(conn: Conn) -> bool:
            await self.line.lock(conn)
            cursor = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM cluster_waiting WHERE job_id = %(id)s)"
                " OR EXISTS (SELECT 1 FROM cluster_flights WHERE job_id = %(id)s)",
                {"id": job_id},
            )
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return False
            if provider is not None:
                await self.line.enqueue(conn, job_id, user_id, provider)
            else:
                await self.line.occupy(conn, job_id, user_id, None)
                await self._deferred(conn, job_id)
            await self._admit(conn)
            return True

        return bool(await self._transact(ensure))

    async def withdraw(self, job_id: str) -> bool:
        """Take a waiting job out (cancel); False when it was already admitted."""

        async def withdraw(conn: Conn) -> bool:
            removed = await self.line.remove(conn, job_id)
            await conn.execute("SELECT pg_notify(%s, '')", (LINE_CHANNEL,))
            return removed

        return bool(await self._transact(withdraw))

    async def release(self, job_id: str) -> None:
        """The job ended: free its slots and admit (and defer) what may start now."""

        async def release(conn: Conn) -> None:
            await self.line.release(conn, job_id)
            await self._admit(conn)

        await self._transact(release)

    async def positions(self) -> dict[str, int]:
        """Every waiting job's place in line."""
        async with self._pool.connection() as conn:
            return await self.line.positions(conn)

    # ------------------------------------------------------------ ProviderSlots

    async def acquire(self, job_id: str, provider: str) -> None:
        """Move the job's provider slot to ``provider``, waiting while it is full."""

        async def switch(conn: Conn) -> bool:
            return await self.line.try_switch_provider(conn, job_id, provider)

        pending = self._releasing.get(job_id)
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        while True:
            self.changed.clear()
            if await self._transact(switch):
                return
            await wait_event(self.changed, SLOT_POLL)

    async def turn(self, provider: str) -> None:
        """Wait until ``provider`` may take a submit (Retry-After pause, pacing)."""
        if self.limits is not None:
            await self.limits.wait_turn(provider)

    async def poll_turn(self, provider: str) -> None:
        """Wait for a status request's turn within the provider's poll budget."""
        if self.limits is not None:
            await self.limits.poll_turn(provider)

    def accepted(self, provider: str) -> None:
        """``provider`` accepted a submit; a grown limit may let more jobs start."""
        if self.limits is None:
            return
        # the cluster-wide load is not known here without a query: this process's limit
        # grows as in one process (its ceiling is still PROVIDER_CONCURRENCY)
        if self.limits.accepted(provider, self.limits.limit_for(provider)):
            self._background_admit()

    def refused(self, job_id: str, provider: str, retry_after: float | None) -> bool:
        """``provider`` refused the job's submit as too many: its slot is given back (the
        next ``acquire`` waits for that) and the limit shrinks. Always True: with other
        processes at the provider the refusal may be the limit's doing."""
        if self.limits is not None:
            holding = max(1, self.limits.limit_for(provider) - 1)
            self.limits.refused(provider, holding, retry_after)
        self.release_provider(job_id)
        return True

    def faulted(self, provider: str) -> None:
        """A submit failed on the provider's side."""
        if self.limits is not None:
            self.limits.faulted(provider)

    def _background_admit(self) -> None:
        async def admit(conn: Conn) -> None:
            await self._admit(conn)

        self._spawn("admit", admit)

    def _spawn(self, label: str, fn: Callable[[Conn], Awaitable[None]]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await self._transact(fn)
            except Exception:
                log.exception("fair line: %s failed", label)

        task = asyncio.create_task(run(), name=f"line-{label}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def release_provider(self, job_id: str) -> None:
        """The job is delivering: free its provider slot and admit, in the background (the
        slot is freed with the job at the latest)."""

        async def release(conn: Conn) -> None:
            await self.line.release_provider(conn, job_id)
            await self._admit(conn)

        task = self._spawn(f"release-provider-{job_id}", release)
        self._releasing[job_id] = task
        task.add_done_callback(lambda _: self._releasing.pop(job_id, None))

    async def drain(self) -> None:
        """Let background slot releases finish (at stop)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
