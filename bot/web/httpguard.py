"""An aiohttp listener that bounds every connection: request deadline, keep-alive, a cap.

aiohttp has size limits and a keep-alive timeout but no deadline for reading a request,
so a client that opens a socket and sends a header a byte at a time (slowloris) holds
it for ever. Each accepted connection is wrapped in ``GuardedConnection``, a plain
``asyncio.Protocol`` that forwards everything to aiohttp's own handler and closes the
socket when the request is not complete by its deadline. Only public API is used: the
runner's ``server`` is aiohttp's protocol factory, ``loop.create_server`` listens, and
``request.transport.get_protocol()`` leads a request back to its connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from bot.web.limits import DEFAULT_LIMITS, HttpLimits
from bot.web.refusals import ProtocolLogger, RefusalLog

log = logging.getLogger(__name__)

#: what a client that ran out of time is told, when it is still listening
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


class GuardedConnection(asyncio.Protocol):
    """One accepted socket: forwards to aiohttp's handler, closes it past its deadline."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        #: loop time by which the current request must have arrived whole
        self.deadline = 0.0
        #: a request's headers are in and its handler runs: the deadline timer is off
        self.in_request = False
        self.bytes_received = 0

    # -- asyncio.Protocol, forwarded
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(transport)
        self._arm()
        self._guard.opened(self)

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._guard.closed(self)
        self._inner.connection_lost(exc)

    # -- the deadline
    @property
    def limits(self) -> HttpLimits:
        """The limits of the listener that accepted this connection."""
        return self._guard.limits

    def headers_received(self) -> float:
        """The handler starts: stop the timer; returns the deadline left for the body."""
        self.in_request = True
        self._disarm()
        return self.deadline

    def request_done(self) -> None:
        """The handler finished: the next request on this connection gets a fresh deadline."""
        self.in_request = False
        if self.transport is not None and not self.transport.is_closing():
            self._arm()

    def drop(self) -> None:
        """Close at once, discarding anything unsent."""
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self.in_request = False
        self.deadline = self._loop.time() + self._guard.limits.request_timeout
        self._timer = self._loop.call_at(self.deadline, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        transport = self.transport
        if self.in_request or transport is None or transport.is_closing():
            return
        self._guard.timed_out()
        if self.bytes_received and transport.get_write_buffer_size() == 0:
            transport.write(_TIMEOUT_RESPONSE)
        if transport.get_write_buffer_size():
            transport.abort()  # a client that does not read must not keep the socket
        else:
            transport.close()


class ConnectionGuard:
    """The open connections of one listener, capped."""

    def __init__(self, limits: HttpLimits, refusals: RefusalLog) -> None:
        self.limits = limits
        self._refusals = refusals
        self._open: dict[GuardedConnection, None] = {}  # insertion order = age
        self.expired = 0
        self.evicted = 0
        self.refused = 0

    @property
    def connections(self) -> list[GuardedConnection]:
        """Open connections, oldest first."""
        return list(self._open)

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` wrapping aiohttp's."""
        return lambda: GuardedConnection(self, inner())

    def opened(self, conn: GuardedConnection) -> None:
        """Count ``conn``; at the cap make room by dropping the oldest idle connection."""
        if len(self._open) >= self.limits.max_connections:
            victim = next((c for c in self._open if not c.in_request), None)
            if victim is None:  # every slot is serving a request: refuse the newcomer
                self.refused += 1
                self._refusals.refused(
                    "connections over the cap",
                    "connection limit (%s) reached; refused a connection",
                    self.limits.max_connections,
                )
                conn.drop()
                return
            self.evicted += 1
            self._refusals.refused(
                "connections over the cap",
                "connection limit (%s) reached; dropped the oldest idle connection",
                self.limits.max_connections,
            )
            self._open.pop(victim, None)
            victim.drop()
        self._open[conn] = None

    def timed_out(self) -> None:
        """Count (and log, rate-limited) a connection closed at its deadline."""
        self.expired += 1
        self._refusals.refused(
            "slow connections",
            "closed a connection that sent no whole request within %s s",
            f"{self.limits.request_timeout:g}",
        )

    def closed(self, conn: GuardedConnection) -> None:
        """Forget ``conn``."""
        self._open.pop(conn, None)

    def drop_all(self) -> None:
        """Close every connection still open (at shutdown)."""
        for conn in list(self._open):
            conn.drop()
        self._open.clear()


def connection_of(request: web.BaseRequest) -> GuardedConnection | None:
    """The guarded connection a request came on (None once it is gone)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedConnection) else None


@web.middleware
async def _deadline_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    conn = connection_of(request)
    if conn is not None:
        conn.headers_received()
    try:
        return cast(web.StreamResponse, await handler(request))
    finally:
        if conn is not None:
            conn.request_done()


async def read_body(request: web.Request, max_size: int) -> bytes:
    """The request body, within the connection's deadline and ``max_size`` bytes.

    Raises 413 for a declared or actual size past ``max_size`` (before reading, when
    declared) and 408 when the body has not arrived by the deadline.
    """
    declared = request.content_length
    if declared is not None and declared > max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=declared)
    conn = connection_of(request)
    limits = conn.limits if conn is not None else None
    deadline = conn.deadline - limits.lingering_time if conn and limits else None
    try:
        async with asyncio.timeout_at(deadline):
            return await request.read()  # 413 past client_max_size when undeclared
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="request body too slow") from None
    except ConnectionResetError:  # the client went away (or was closed) mid-body
        raise web.HTTPBadRequest(text="connection lost") from None


class GuardedServer:
    """``app`` served on ``host:port`` behind a ``ConnectionGuard``; port 0 picks one."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        limits: HttpLimits = DEFAULT_LIMITS,
        refusals: RefusalLog | None = None,
    ) -> None:
        app.middlewares.append(_deadline_middleware)
        self.app = app
        self.host = host
        self.requested_port = port
        self.limits = limits
        self.refusals = refusals if refusals is not None else RefusalLog(logger=log)
        self.guard = ConnectionGuard(limits, self.refusals)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port. ``OSError`` when the port cannot be had."""
        limits = self.limits
        runner = web.AppRunner(
            self.app,
            access_log=None,  # callback paths carry secrets
            logger=ProtocolLogger(logging.getLogger("bot.web.http"), self.refusals),
            keepalive_timeout=limits.keepalive_timeout,
            max_line_size=limits.max_line_size,
            max_field_size=limits.max_field_size,
            max_headers=limits.max_headers,
            lingering_time=limits.lingering_time,
            shutdown_timeout=limits.shutdown_timeout,
        )
        await runner.setup()
        try:
            aiohttp_factory = runner.server
            assert aiohttp_factory is not None  # set by setup()
            listener = await asyncio.get_running_loop().create_server(
                self.guard.factory(aiohttp_factory),
                self.host,
                self.requested_port,
                backlog=limits.backlog,
                reuse_address=True,
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._listener = runner, listener
        self.port = int(listener.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening, let handlers finish briefly, close every connection (idempotent)."""
        listener, runner = self._listener, self._runner
        self._listener = self._runner = None
        if listener is not None:
            listener.close()
        if runner is not None:
            await runner.cleanup()
        self.guard.drop_all()
        if listener is not None:
            await listener.wait_closed()
        self.refusals.flush()
