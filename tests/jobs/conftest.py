"""Fixtures for engine tests: each test gets harnesses on one SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.providers.base import Provider
from tests.jobs.harness import Harness


@pytest.fixture
async def make_harness(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []
    # a module that uses the ``backend`` fixture runs on both stores
    on_postgres = "backend" in request.fixturenames and request.getfixturevalue("backend") == "pg"
    pg_url = request.getfixturevalue("pg_url") if on_postgres else None

    def make(*providers: Provider, **kwargs: Any) -> Harness:
        harness = Harness(tmp_path, list(providers), pg_url=pg_url, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
        await harness.http.aclose()
