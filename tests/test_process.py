"""The bot as an operator runs it: a real process, SIGTERM, /healthz, and no secret in its logs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gsecret.token-that-must-never-be-logged"
KEY = "sk-poyo-key-that-must-never-be-logged"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def bot_process(
    tmp_path: Path, discord: FakeDiscord, provider: FakeProvider, port: int
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """``python -m bot run`` at DEBUG level, its stderr collected line by line."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_TOKEN", "_BASE_URL")) and key != "PROVIDERS"
    }
    env.update(
        provider.env(),
        PYTHONPATH=str(ROOT),
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_BASE=discord.api_base,
        DATABASE_PATH=str(tmp_path / "data" / "bot.sqlite3"),
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []

    async def drain(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            lines.append(line.decode(errors="replace"))

    assert process.stderr is not None
    assert process.stdout is not None
    readers = [
        asyncio.create_task(drain(process.stderr)),
        asyncio.create_task(drain(process.stdout)),
    ]
    try:
        yield process, lines
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.gather(*readers)


async def wait_healthy(port: int, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                response = await client.get(f"http://127.0.0.1:{port}/healthz")
                if response.status_code == 200:
                    return dict(response.json())
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the bot never became healthy"
            await asyncio.sleep(0.1)


async def test_run_serves_a_job_stops_on_sigterm_and_never_logs_secrets(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=0.1)) as provider,
    ):
        port = free_port()
        async with bot_process(tmp_path, discord, provider, port) as (process, lines):
            await discord.wait_ready(timeout=30)
            health = await wait_healthy(port)
            assert health["status"] == "ok"

            handle = await discord.slash("imagine", options={"prompt": "a red fox"})
            assert (await handle.response(timeout=10)).type == 5
            result = await discord.wait_for(
                lambda: next(
                    (
                        m
                        for m in discord.messages(discord.channel)
                        if m.attachments and not m.ephemeral
                    ),
                    None,
                ),
                timeout=20,
            )
            assert result.attachments[0].data

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), timeout=10)
            assert code == 0
            assert time.monotonic() - started < 10
        output = "".join(lines)
        assert "Stopped" in output
        assert TOKEN not in output
        assert KEY not in output
        assert (tmp_path / "data" / "bot.sqlite3").exists()


async def test_a_rejected_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token="the-right-token") as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        async with bot_process(tmp_path, discord, provider, free_port()) as (process, lines):
            code = await asyncio.wait_for(process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in lines if line.startswith("error:")]
        assert errors == ["error: DISCORD_TOKEN: Discord rejected the token\n"]
        assert TOKEN not in "".join(lines)


async def test_sigterm_leaves_a_job_in_flight_for_the_next_start(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=3.0)) as provider,
    ):
        port = free_port()
        async with bot_process(tmp_path, discord, provider, port) as (process, _):
            await discord.wait_ready(timeout=30)
            handle = await discord.slash("imagine", options={"prompt": "a slow fox"})
            await handle.followup(0, timeout=10)
            await discord.wait_for(lambda: provider.count("submit") == 1 or None, timeout=10)
            process.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        database = tmp_path / "data" / "bot.sqlite3"
        state, charged = job_row(database)
        assert state in ("submitted", "running")
        assert charged is None

        async with bot_process(tmp_path, discord, provider, port) as (process, _):
            result = await discord.wait_for(
                lambda: next((m for m in discord.messages(discord.channel) if m.attachments), None),
                timeout=30,
            )
            assert result.attachments
            await discord.wait_for(lambda: job_row(database) == ("done", 1) or None, timeout=10)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        assert provider.count("submit") == 1  # resumed by polling, not resubmitted
        assert len([m for m in discord.messages(discord.channel) if m.attachments]) == 1


def job_row(database: Path) -> tuple[str, int | None]:
    """The one job's state and charge, read as another process would."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        [(state, charged)] = conn.execute("SELECT state, charged FROM jobs").fetchall()
    return state, charged
