"""One-per-cluster duties: PostgreSQL session advisory locks, or nothing on SQLite (one process).

Command sync runs in one process at a time; IDENTIFYs of one ``max_concurrency`` bucket are
spaced across processes. Each lock lives on a connection of its own, opened for it and
closed after, so a process that dies (SIGKILL, lost host) releases its locks with its
connections, and two locks of one process never share a session (advisory locks are
re-entrant within a session). Waiting polls ``pg_try_advisory_lock``: a waiter that is
cancelled at shutdown leaves nothing queued in the server. The keys are the two-``int4``
form, a key space apart from the one-``bigint`` keys other modules lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import psycopg
from psycopg.rows import TupleRow

log = logging.getLogger(__name__)

#: the first key of every advisory lock of this module ("SDbt"), apart from other users
NAMESPACE = 0x53446274
#: the second key: command sync
SYNC_KEY = 1
#: the second key of an IDENTIFY bucket is this plus the bucket number
IDENTIFY_KEY_BASE = 1000
#: Discord allows one IDENTIFY per bucket every 5 s; the margin absorbs network jitter
IDENTIFY_SPACING = 5.0
IDENTIFY_MARGIN = 0.25
#: how often a waiter asks for a lock again
POLL_INTERVAL = 0.1


class ClusterLocks(Protocol):
    """The duties the Discord layer shares with the other processes of the bot."""

    @property
    def shared(self) -> bool:
        """False on SQLite: one process, nothing to share (discord.py's own spacing)."""

    def command_sync(self) -> AbstractAsyncContextManager[None]:
        """Held while this process checks and syncs the command tree."""

    async def identify_turn(self, bucket: int) -> None:
        """Return when this process may IDENTIFY in ``bucket``; the bucket stays taken for
        the spacing Discord asks, wherever the next IDENTIFY comes from."""

    async def close(self) -> None:
        """Release what is held."""


class LocalLocks:
    """SQLite: the only process; no lock to take."""

    shared = False

    @asynccontextmanager
    async def command_sync(self) -> AsyncIterator[None]:
        """Nothing to wait for."""
        yield

    async def identify_turn(self, bucket: int) -> None:
        """Nothing to wait for (the caller keeps discord.py's own spacing)."""

    async def close(self) -> None:
        """Nothing held."""


class PostgresLocks:
    """Advisory locks on the shared PostgreSQL database at ``url``."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        identify_hold: float = IDENTIFY_SPACING + IDENTIFY_MARGIN,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._url = url
        self._identify_hold = identify_hold
        self._poll = poll_interval
        self._releases: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def command_sync(self) -> AsyncIterator[None]:
        """Hold the sync lock for the block: the next process finds the tree synced."""
        conn = await self._locked(SYNC_KEY, "command sync")
        try:
            yield
        finally:
            await _close(conn)

    async def identify_turn(self, bucket: int) -> None:
        """Take the bucket's lock and keep it ``identify_hold`` seconds from now.

        Without the database (down, unreachable), wait the spacing here instead: a gateway
        reconnect must not fail for want of the lock.
        """
        try:
            conn = await self._locked(IDENTIFY_KEY_BASE + bucket, f"IDENTIFY bucket {bucket}")
        except psycopg.Error as exc:
            log.warning(
                "IDENTIFY bucket %d: the database is unreachable (%s); spacing IDENTIFYs "
                "in this process only",
                bucket,
                type(exc).__name__,
            )
            await asyncio.sleep(self._identify_hold)
            return
        task = asyncio.create_task(self._release_after(conn), name=f"identify-bucket-{bucket}")
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def close(self) -> None:
        """Release the buckets still held (their connections close)."""
        for task in list(self._releases):
            task.cancel()
        for task in list(self._releases):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _release_after(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        try:
            await asyncio.sleep(self._identify_hold)
        finally:
            await _close(conn)

    async def _locked(self, key: int, what: str) -> psycopg.AsyncConnection[TupleRow]:
        """A new connection holding lock ``(NAMESPACE, key)``, waited for by polling."""
        conn: psycopg.AsyncConnection[TupleRow] = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True
        )
        try:
            waited = False
            while True:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (NAMESPACE, key))
                row = await cursor.fetchone()
                if row is not None and row[0]:
                    break
                if not waited:
                    log.info("Waiting for %s: another process holds it", what)
                    waited = True
                await asyncio.sleep(self._poll)
        except BaseException:
            await _close(conn)
            raise
        return conn


def cluster_locks(url: str | None) -> ClusterLocks:
    """Advisory locks on the shared PostgreSQL database at ``url``; None (SQLite): none."""
    return LocalLocks() if url is None else PostgresLocks(url)


async def _close(conn: psycopg.AsyncConnection[TupleRow]) -> None:
    """Close (which releases the session's advisory locks); a dead link is closed already."""
    with contextlib.suppress(psycopg.Error):
        await conn.close()
