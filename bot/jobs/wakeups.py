"""Cross-process wake-ups over PostgreSQL ``LISTEN/NOTIFY``.

A provider callback may reach any process; that process checks it against the shared
ledger and sends ``NOTIFY seedream_wake, '<job id>'``; the process running the job wakes its
wait, which then asks the provider itself (a notification is only a hint, like the
callback). Line changes (``seedream_line``) wake jobs waiting for a provider slot and
refresh queue positions. A lost connection is reopened; meanwhile polling goes on as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

WAKE_CHANNEL = "seedream_wake"
#: pause before reconnecting after the listening connection failed
RECONNECT_DELAY = 1.0


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` pass; a cancellation is never swallowed
    (``wait_for`` inside ``suppress(TimeoutError)`` can lose one on Python 3.11)."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


async def send_wake(pool: AsyncConnectionPool[Any], job_id: str) -> None:
    """Ask whichever process runs ``job_id`` to look at its provider now."""
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (WAKE_CHANNEL, job_id))


class Listener:
    """One connection listening on a few channels; calls ``handlers[channel](payload)``."""

    def __init__(self, url: str, handlers: dict[str, Callable[[str], None]]) -> None:
        self._url = url
        self._handlers = handlers
        self._task: asyncio.Task[None] | None = None
        #: set once the first LISTEN is in place (tests wait on it)
        self.listening = asyncio.Event()

    def start(self) -> None:
        """Listen in a background task."""
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("notification listener lost its connection (%s); reconnecting", exc)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self) -> None:
        conn: AsyncConnection[Any] = await AsyncConnection.connect(self._url, autocommit=True)
        async with conn:
            for channel in self._handlers:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.listening.set()
            # a reconnect may have missed notifications: tell every handler to look again
            for handler in self._handlers.values():
                handler("")
            async for notice in conn.notifies():
                call = self._handlers.get(notice.channel)
                if call is not None:
                    call(notice.payload)
