"""QueuedTransport: at most max_connections requests reach the pool; slots come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.providers.transport import QueuedTransport


class SlowServer:
    """Answers after a pause and records how many requests were in flight at once."""

    def __init__(self) -> None:
        self.active = 0
        self.most = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.active += 1
        self.most = max(self.most, self.active)
        try:
            await asyncio.sleep(0.05)
            return web.Response(text="ok")
        finally:
            self.active -= 1


@pytest.fixture
async def server() -> AsyncIterator[tuple[SlowServer, str]]:
    slow = SlowServer()
    app = web.Application()
    app.router.add_get("/", slow.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield slow, f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_requests_queue_for_a_slot_and_all_complete(
    server: tuple[SlowServer, str],
) -> None:
    slow, url = server
    limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
    async with httpx.AsyncClient(transport=QueuedTransport(limits)) as client:
        answers = await asyncio.gather(*(client.get(url) for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert slow.most <= 3


async def test_waiting_for_a_slot_honours_the_pool_timeout(server: tuple[SlowServer, str]) -> None:
    _, url = server
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.1)
    async with httpx.AsyncClient(transport=QueuedTransport(limits), timeout=timeout) as client:
        async with client.stream("GET", url) as held:  # keeps the only slot until closed
            assert held.status_code == 200
            with pytest.raises(httpx.PoolTimeout):
                await client.get(url)
        # closing the held response gave its slot back
        assert (await client.get(url)).status_code == 200
