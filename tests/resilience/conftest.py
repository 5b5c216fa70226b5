"""Fixtures for the resilience tests: the real bot in-process against the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import stamina

from tests.e2e.harness import PROVIDER_KEY, World, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """No real back-off sleeps in provider retries (3 attempts, as in production's order)."""
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A fake Discord and a fake PoYo (known key) whose tasks finish 0.2 s after submission."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FakeProvider("poyo", api_key=PROVIDER_KEY, script=Script(finish_after=0.2)) as provider,
    ):
        yield World(discord=discord, provider=provider, settings=make_settings(tmp_path))
        assert not discord.unhandled, discord.unhandled
