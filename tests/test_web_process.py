"""The bot process binds metrics privately, apart from the public port, and says when it can't."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.core.errors import ConfigError
from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gsecret.token-for-the-web-process-test"
KEY = "sk-poyo-key-for-the-web-process-test"


def test_metrics_bind_defaults_to_loopback_9108(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("METRICS_HOST", raising=False)
    monkeypatch.delenv("METRICS_PORT", raising=False)
    settings = load_settings(None)
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9108)
    monkeypatch.setenv("METRICS_PORT", "metrics")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == "METRICS_PORT"


async def test_metrics_port_in_use_is_one_line_naming_metrics_port(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            extra = {"DISCORD_TOKEN": TOKEN, "METRICS_PORT": str(port)}
            env = bot_env(tmp_path, discord, provider, free_port(), **extra)
            async with bot_process(tmp_path, env) as bot:
                code = await asyncio.wait_for(bot.process.wait(), timeout=30)
        assert code == 2
        errors = [line for line in bot.lines if line.startswith("error:")]
        assert len(errors) == 1, bot.output
        assert errors[0].startswith(f"error: METRICS_PORT: cannot listen on 127.0.0.1:{port}")
        assert "Traceback" not in bot.output


async def test_metrics_are_private_and_off_the_public_port(tmp_path: Path) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        env = bot_env(tmp_path, discord, provider, free_port(), DISCORD_TOKEN=TOKEN)
        async with bot_process(tmp_path, env) as bot:
            await wait_healthy(bot)
            found = re.search(r"Metrics listening on 127\.0\.0\.1:(\d+)", bot.output)
            assert found, bot.output
            async with httpx.AsyncClient() as client:
                public = await client.get(f"http://127.0.0.1:{bot.port}/metrics")
                private = await client.get(f"http://127.0.0.1:{found[1]}/metrics")
            assert public.status_code == 404
            assert private.status_code == 200
            assert "seedream_jobs" in private.text
