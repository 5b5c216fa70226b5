"""Slow and idle clients on real sockets: request deadlines, keep-alive and the connection cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from bot.web.limits import DEFAULT_LIMITS, HttpLimits
from bot.web.server import WebServer
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import fake_provider

#: a second of deadline keeps the tests short; the default (10 s) is checked separately.
#: aiohttp's own keep-alive timer also closes a connection that never completes a request,
#: so it is set longer here for the deadline to be what is tested.
FAST = HttpLimits(request_timeout=1.0, keepalive_timeout=60, lingering_time=0.2)

Start = Callable[[HttpLimits | None], Awaitable[WebServer]]
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[Start]:
    harness = Harness(tmp_path, [fake_provider()])
    engine = await harness.open()
    assert harness.store is not None
    servers: list[WebServer] = []

    async def start(limits: HttpLimits | None) -> WebServer:
        assert harness.store is not None
        server = WebServer(
            engine=engine,
            db=harness.store,
            discord_connected=lambda: True,
            host="127.0.0.1",
            port=0,
            **({"limits": limits} if limits is not None else {}),
        )
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()
    await harness.close()
    await harness.http.aclose()


# the ways a slowloris client starts and then stalls
PARTIALS = (
    b"",
    b"GE",
    b"GET /healthz HTTP/1.1\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n",
    b"POST /callbacks/fake/secret HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12",
)


async def open_half(port: int, count: int, partials: tuple[bytes, ...] = PARTIALS) -> list[Conn]:
    conns = []
    for i in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(partials[i % len(partials)])
        conns.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in conns))
    return conns


async def closed_by_server(conn: Conn) -> bytes:
    """Everything the server sent until it closed the connection."""
    reader, _ = conn
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(4096):
            received += chunk
    return received


def close_all(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()


async def healthz_within_a_second(port: int) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        started = time.monotonic()
        response = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0


async def test_300_half_open_connections_neither_block_health_nor_stay_open(
    start_server: Start,
) -> None:
    limits = HttpLimits(request_timeout=2.0, keepalive_timeout=60, lingering_time=0.2)
    server = await start_server(limits)
    assert server.port is not None
    conns = await open_half(server.port, 300)
    try:
        await wait_until(lambda: len(server.public.guard.connections) >= 300, timeout=10)
        await healthz_within_a_second(server.port)
        # every one of them is closed by the server, well within 30 s
        received = await asyncio.wait_for(
            asyncio.gather(*(closed_by_server(c) for c in conns)), timeout=30
        )
    finally:
        close_all(conns)
    # closed by the header deadline; the fifth that sent headers and a partial body
    # was answered 408 by the body read, inside the handler
    assert server.public.guard.expired >= 240
    assert server.public.guard.connections == []
    # a client that had started a request is told why (408); one that sent nothing is not
    assert received[0] == b""
    assert all(r.startswith(b"HTTP/1.1 408") for r in received[1::5])
    assert all(b" 408 " in r.split(b"\r\n")[0] for r in received[4::5])


async def test_trickling_bytes_does_not_extend_the_deadline(start_server: Start) -> None:
    server = await start_server(FAST)
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\n")
    closed = asyncio.create_task(closed_by_server((reader, writer)))
    sent = 0
    try:
        for _ in range(200):  # a header byte every 50 ms: 10 s of trickle at most
            if closed.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b"X")
                await writer.drain()
                sent += 1
            await asyncio.sleep(0.05)
        assert closed.done(), "the trickling connection was never closed"
        assert (await closed).startswith(b"HTTP/1.1 408")
    finally:
        writer.close()
    assert sent < 200


async def test_a_kept_alive_connection_gets_a_new_deadline_per_request(
    start_server: Start,
) -> None:
    server = await start_server(FAST)
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await reader.readline()
        assert b" 200 " in status
        # the next request starts but never ends: closed at its own deadline
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        rest = await asyncio.wait_for(closed_by_server((reader, writer)), timeout=30)
        assert b"HTTP/1.1 408" in rest
    finally:
        writer.close()


async def test_an_idle_kept_alive_connection_is_closed(start_server: Start) -> None:
    server = await start_server(HttpLimits(request_timeout=30, keepalive_timeout=0.3))
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        rest = await asyncio.wait_for(closed_by_server((reader, writer)), timeout=20)
    finally:
        writer.close()
    assert b" 200 " in rest.split(b"\r\n")[0]
    assert server.public.guard.expired == 0  # aiohttp's keep-alive closed it, not the deadline


async def test_a_slow_callback_body_is_408(start_server: Start) -> None:
    server = await start_server(FAST)
    assert server.port is not None
    conn = await asyncio.open_connection("127.0.0.1", server.port)
    _, writer = conn
    try:
        writer.write(
            b"POST /callbacks/fake/secret HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        received = await asyncio.wait_for(closed_by_server(conn), timeout=30)
    finally:
        writer.close()
    assert b" 408 " in received.split(b"\r\n")[0]


async def test_past_the_cap_the_oldest_idle_connection_makes_room(start_server: Start) -> None:
    limits = HttpLimits(request_timeout=30, keepalive_timeout=60, max_connections=10)
    server = await start_server(limits)
    assert server.port is not None
    conns = await open_half(server.port, 20, PARTIALS[:4])  # none is inside its handler
    try:
        await wait_until(lambda: server.public.guard.evicted >= 10, timeout=10)
        assert len(server.public.guard.connections) == 10
        # the first ten were dropped to make room for the next ten
        await asyncio.wait_for(asyncio.gather(*(closed_by_server(c) for c in conns[:10])), 10)
        await healthz_within_a_second(server.port)
        assert len(server.public.guard.connections) <= 10
    finally:
        close_all(conns)


async def test_the_default_deadline_is_ten_seconds(start_server: Start) -> None:
    assert (DEFAULT_LIMITS.request_timeout, DEFAULT_LIMITS.keepalive_timeout) == (10.0, 5.0)
    server = await start_server(None)  # what the bot process uses
    assert server.limits is DEFAULT_LIMITS
    assert server.port is not None
    loop = asyncio.get_running_loop()
    before = loop.time()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        await wait_until(lambda: len(server.public.guard.connections) == 1, timeout=10)
        after = loop.time()
        [conn] = server.public.guard.connections
        assert before + 10.0 <= conn.deadline <= after + 10.0
    finally:
        writer.close()
