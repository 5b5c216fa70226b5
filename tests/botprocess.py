"""The bot as a real process (``python -m bot run``, or ``worker``) pointed at the fakes."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    """A running ``python -m bot run`` and the lines it wrote."""

    process: asyncio.subprocess.Process
    lines: list[str]
    port: int

    @property
    def output(self) -> str:
        return "".join(self.lines)


def bot_env(
    tmp_path: Path, discord: FakeDiscord, provider: FakeProvider, port: int, **extra: str
) -> dict[str, str]:
    """The environment of a bot process pointed at the fakes (nothing inherited that counts)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_TOKEN", "_BASE_URL", "_MODEL"))
        and key not in ("PROVIDERS", "PUBLIC_URL", "DATABASE_PATH", "DATABASE_URL", "LOG_LEVEL")
    }
    env.update(
        provider.env(),
        PYTHONPATH=str(ROOT),
        DISCORD_API_BASE=discord.api_base,
        DATABASE_PATH=str(tmp_path / "data" / "bot.sqlite3"),
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        METRICS_PORT="0",  # a free port: 9108 may be taken on this machine
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def bot_process(
    cwd: Path, env: dict[str, str], command: str = "run"
) -> AsyncIterator[BotProcess]:
    """Start the bot (``command``: run or worker); on exit kill it if it still runs and
    collect its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # at DEBUG discord.py logs the command sync's body: with every locale's names and
        # descriptions it is one line of about 150 KB, past readline's 64 KiB default
        limit=2**22,
    )
    lines: list[str] = []

    async def drain(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            lines.append(line.decode(errors="replace"))

    assert process.stdout is not None
    assert process.stderr is not None
    readers = [
        asyncio.create_task(drain(process.stdout)),
        asyncio.create_task(drain(process.stderr)),
    ]
    try:
        yield BotProcess(process, lines, int(env["HTTP_PORT"]))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.wait_for(asyncio.gather(*readers), timeout=10)


async def wait_healthy(bot: BotProcess, timeout: float = 20.0) -> None:
    """Until ``/healthz`` answers 200 (the bot is connected and its engine runs)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            if bot.process.returncode is not None:
                raise AssertionError(f"the bot exited early:\n{bot.output[-3000:]}")
            try:
                response = await client.get(f"http://127.0.0.1:{bot.port}/healthz")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"never healthy:\n{bot.output[-3000:]}"
            await asyncio.sleep(0.05)
