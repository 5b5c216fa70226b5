"""Fixtures for the provider tests: fake servers, a shared client, no real backoff sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import stamina

from bot.providers.http import make_http_client
from bot.waiting import PollSchedule
from tests.providers.fakes import FakeProvider, Script

#: polls at once, so task-based tests don't wait seconds
FAST = PollSchedule(first=0.001, interval=0.001, growth=1.0, max_interval=0.001)
TASK_BASED = ("poyo", "vidgo", "apikley")
SYNCHRONOUS = ("pixazo", "apiyi", "ark")
FLAVORS_ALL = TASK_BASED + SYNCHRONOUS

MakeFake = Callable[..., Awaitable[FakeProvider]]


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """stamina's test mode: up to 3 attempts, zero waits (tests that time waits opt out)."""
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client() as http:
        yield http


@pytest.fixture
async def make_fake() -> AsyncIterator[MakeFake]:
    """``await make_fake("poyo", fail="...")``: a started fake, stopped after the test."""
    started: list[FakeProvider] = []

    async def make(flavor: str, prefix: str = "", **script: Any) -> FakeProvider:
        fake = FakeProvider(flavor, prefix=prefix, script=Script(**script))
        started.append(await fake.start())
        return fake

    yield make
    for fake in started:
        await fake.stop()
