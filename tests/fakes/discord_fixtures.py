"""Helpers and pytest fixtures to run a real discord.py bot against :class:`FakeDiscord`.

Typical use::

    from tests.fakes.discord_fixtures import start_bot

    async def test_something(fake_discord: FakeDiscord) -> None:
        async with start_bot(MyBot(...), fake_discord) as bot:
            handle = await fake_discord.slash("ping")
            assert (await handle.response()).type == 4

Fixtures (registered for the whole suite by ``tests/conftest.py``): ``fake_discord`` (a
started fake with a 1 s heartbeat) and ``discord_endpoints`` (restores ``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` after a test that sets them itself).

Tip: pass ``guild_ready_timeout=0.1`` (or similar) to the bot's constructor; discord.py waits
that long after the last GUILD_CREATE before firing ``on_ready`` (default 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_api import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)

TEST_HEARTBEAT_MS = 1000
DISCORD_PACKAGE_DIR = str(Path(discord.__file__).parent)


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at ``fake``; restore on exit."""
    saved_base, saved_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved_base, saved_gateway


@contextlib.asynccontextmanager
async def start_bot(
    bot: ClientT, fake: FakeDiscord, *, token: str = "fake-token", timeout: float = 10.0
) -> AsyncIterator[ClientT]:
    """Run ``bot.start(token)`` against ``fake`` until it is ready; close it on exit.

    Raises whatever ``bot.start`` raised if the bot dies before becoming ready, and
    ``TimeoutError`` if it is not ready within ``timeout`` seconds.
    """
    with pointed_at(fake):
        task = asyncio.create_task(bot.start(token), name="fake-discord-bot")
        try:
            await _wait_until_ready(bot, task, timeout)
            yield bot
        except BaseException:
            await _shutdown(bot, task, timeout, reraise=False)
            raise
        await _shutdown(bot, task, timeout, reraise=True)


async def _wait_until_ready(bot: discord.Client, task: asyncio.Task[None], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not bot.is_ready():
            if task.done():
                task.result()  # re-raises the start-up failure
                raise RuntimeError("bot.start() returned before the bot became ready")
            await asyncio.sleep(0.02)


async def _shutdown(
    bot: discord.Client, task: asyncio.Task[None], timeout: float, *, reraise: bool
) -> None:
    async with asyncio.timeout(timeout):
        await bot.close()
        await asyncio.wait({task})
        await cancel_discord_tasks()
    error = None if task.cancelled() else task.exception()
    if reraise and error is not None:
        raise error


def discord_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks running discord.py code (other than the current one)."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current and not task.done() and _runs_discord_code(task)
    ]


def _runs_discord_code(task: asyncio.Task[object]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(DISCORD_PACKAGE_DIR)


async def cancel_discord_tasks() -> None:
    """Cancel what discord.py leaves behind after ``close()`` (e.g. ``View`` timeout timers)."""
    leftovers = discord_tasks()
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.wait(leftovers)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with a short (1 s) heartbeat interval."""
    async with FakeDiscord(heartbeat_interval_ms=TEST_HEARTBEAT_MS) as fake:
        yield fake


@pytest.fixture
def discord_endpoints() -> Iterator[None]:
    """Restore ``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` after the test."""
    saved_base, saved_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved_base, saved_gateway
