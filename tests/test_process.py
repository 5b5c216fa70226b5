"""The bot as an operator runs it: a real process, SIGTERM, /healthz, and no secret in its logs."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import time
from pathlib import Path

import httpx

from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gsecret.token-that-must-never-be-logged"
KEY = "sk-poyo-key-that-must-never-be-logged"


def process_env(
    tmp_path: Path, discord: FakeDiscord, provider: FakeProvider, port: int
) -> dict[str, str]:
    """The bot pointed at the fakes, at DEBUG level, with the secrets under test."""
    return bot_env(tmp_path, discord, provider, port, DISCORD_TOKEN=TOKEN, LOG_LEVEL="DEBUG")


async def test_run_serves_a_job_stops_on_sigterm_and_never_logs_secrets(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=0.1)) as provider,
    ):
        env = process_env(tmp_path, discord, provider, free_port())
        async with bot_process(tmp_path, env) as bot:
            process = bot.process
            await discord.wait_ready(timeout=30)
            await wait_healthy(bot)
            async with httpx.AsyncClient() as client:
                health = (await client.get(f"http://127.0.0.1:{bot.port}/healthz")).json()
            assert health == {"status": "ok", "database": True, "discord": True, "engine": True}

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
        output = bot.output
        assert "Stopped" in output
        assert TOKEN not in output
        assert KEY not in output
        assert (tmp_path / "data" / "bot.sqlite3").exists()


async def test_a_rejected_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token="the-right-token") as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        env = process_env(tmp_path, discord, provider, free_port())
        async with bot_process(tmp_path, env) as bot:
            code = await asyncio.wait_for(bot.process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in bot.lines if line.startswith("error:")]
        assert errors == ["error: DISCORD_TOKEN: Discord rejected the token\n"]
        assert TOKEN not in bot.output


async def test_sigterm_leaves_a_job_in_flight_for_the_next_start(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=3.0)) as provider,
    ):
        env = process_env(tmp_path, discord, provider, free_port())
        async with bot_process(tmp_path, env) as bot:
            process = bot.process
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

        async with bot_process(tmp_path, env) as bot:
            process = bot.process
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


async def test_a_port_in_use_is_one_line_naming_http_port(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = process_env(tmp_path, discord, provider, port)
            async with bot_process(tmp_path, env) as bot:
                code = await asyncio.wait_for(bot.process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in bot.lines if line.startswith("error:")]
        assert len(errors) == 1
        assert errors[0].startswith(f"error: HTTP_PORT: cannot listen on 127.0.0.1:{port}")
        assert "Traceback" not in bot.output


async def test_an_unusable_database_path_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        env = process_env(tmp_path, discord, provider, free_port())
        async with bot_process(tmp_path, env) as bot:
            code = await asyncio.wait_for(bot.process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in bot.lines if line.startswith("error:")]
        assert len(errors) == 1
        assert errors[0].startswith("error: DATABASE_PATH: cannot open")
        assert "Traceback" not in bot.output


async def test_an_unreachable_discord_api_base_is_one_line_naming_it(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        closed = f"http://127.0.0.1:{free_port()}/api/v10"  # nothing listens there
        env = process_env(tmp_path, discord, provider, free_port())
        env["DISCORD_API_BASE"] = closed
        async with bot_process(tmp_path, env) as bot:
            code = await asyncio.wait_for(bot.process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in bot.lines if line.startswith("error:")]
        assert len(errors) == 1
        assert errors[0].startswith(f"error: DISCORD_API_BASE: cannot reach Discord at {closed}")
        assert "Traceback" not in bot.output
        assert "PyNaCl" not in bot.output
