"""The bot process: build it (``bot.root``), run until a signal, close everything within 10 s.

``run`` connects to the gateway; ``worker`` only logs in to the REST API (discord.py's
``Client.login`` without ``connect``): it runs jobs, serves the web server and posts results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord

from bot.config import Settings
from bot.core.errors import ConfigError
from bot.providers.base import ProviderConfig
from bot.root import NO_OVERRIDES, Overrides, Root

log = logging.getLogger(__name__)

#: SIGTERM to exit: Docker waits 10 s before SIGKILL
SHUTDOWN_BUDGET = 8.0


async def run_bot(
    settings: Settings,
    providers: list[ProviderConfig],
    overrides: Overrides = NO_OVERRIDES,
    *,
    gateway: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT or a fatal gateway error; returns the exit code.

    ``gateway=False`` is the ``worker``: REST only, no gateway connection.
    """
    # discord.py reads its REST base from this class attribute; the gateway URL is then
    # discovered through GET /gateway/bot, so a proxy or a local fake serves both.
    discord.http.Route.BASE = settings.discord_api_base
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    # ConfigError reaches the CLI
    root = await Root.open(settings, providers, overrides, gateway=gateway)
    bot = root.bot
    exit_code = 0
    token = settings.require_token()
    try:
        async with bot:
            main = bot.start(token) if gateway else _rest_only(bot, token)
            connection = asyncio.create_task(main, name="gateway" if gateway else "rest")
            stop_wait = asyncio.create_task(stopping.wait(), name="stop-signal")
            await asyncio.wait({connection, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if connection.done():
                exit_code = _gateway_exit_code(connection)
            else:
                log.info("Stopping: no new jobs are taken; jobs in flight resume at next start")
            await _shutdown(root, connection, holds=not gateway)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("Stopped")
    return exit_code


async def _rest_only(bot: discord.Client, token: str) -> None:
    """The worker's connection: log in to the REST API (starting the engine and the web
    server through ``setup_hook``), then hold until the process stops."""
    await bot.login(token)
    log.info("Worker: logged in to Discord's REST API; no gateway connection")
    await asyncio.Event().wait()  # cancelled by the shutdown


async def _shutdown(root: Root, connection: asyncio.Task[None], *, holds: bool) -> None:
    """Stop within the budget; ``holds``: the connection task waits until cancelled."""

    async def close_all() -> None:
        await root.stop_taking_jobs()
        await root.bot.close()
        if holds:
            connection.cancel()  # bot.start returns on close by itself
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connection
        await root.close()

    try:
        await asyncio.wait_for(close_all(), SHUTDOWN_BUDGET)
    except TimeoutError:
        log.warning("Shutdown took longer than %.0f s; exiting anyway", SHUTDOWN_BUDGET)


def _gateway_exit_code(gateway: asyncio.Task[None]) -> int:
    if gateway.cancelled():
        return 0
    exc = gateway.exception()
    if exc is None:
        return 0
    if isinstance(exc, ConfigError):  # raised while starting, e.g. HTTP_PORT in use
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, aiohttp.ClientConnectionError | discord.GatewayNotFound):
        print(
            f"error: DISCORD_API_BASE: cannot reach Discord at {discord.http.Route.BASE} ({exc})",
            file=sys.stderr,
        )
        return 2
    if isinstance(exc, discord.LoginFailure):
        print("error: DISCORD_TOKEN: Discord rejected the token", file=sys.stderr)
        return 2
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        print("error: the bot asked for a privileged intent it does not need", file=sys.stderr)
        return 2
    log.error("The Discord connection failed", exc_info=exc)
    return 1
