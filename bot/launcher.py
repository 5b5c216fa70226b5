"""The bot process: build it (``bot.root``), run until a signal, close everything within 10 s."""

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
    settings: Settings, providers: list[ProviderConfig], overrides: Overrides = NO_OVERRIDES
) -> int:
    """Run until SIGTERM/SIGINT or a fatal gateway error; returns the exit code."""
    # discord.py reads its REST base from this class attribute; the gateway URL is then
    # discovered through GET /gateway/bot, so a proxy or a local fake serves both.
    discord.http.Route.BASE = settings.discord_api_base
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    root = await Root.open(settings, providers, overrides)  # ConfigError reaches the CLI
    bot = root.bot
    exit_code = 0
    try:
        async with bot:
            gateway = asyncio.create_task(bot.start(settings.require_token()), name="gateway")
            stop_wait = asyncio.create_task(stopping.wait(), name="stop-signal")
            await asyncio.wait({gateway, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if gateway.done():
                exit_code = _gateway_exit_code(gateway)
            else:
                log.info("Stopping: no new jobs are taken; jobs in flight resume at next start")
            await _shutdown(root, gateway)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("Stopped")
    return exit_code


async def _shutdown(root: Root, gateway: asyncio.Task[None]) -> None:
    async def close_all() -> None:
        await root.stop_taking_jobs()
        await root.bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gateway
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
