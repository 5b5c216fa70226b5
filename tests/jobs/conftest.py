"""Fixtures for engine tests: each test gets harnesses on one SQLite file in tmp_path, or,
in modules that override ``harness_backend``, on one PostgreSQL database too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.providers.base import Provider
from tests.jobs.harness import Harness


@pytest.fixture
def harness_backend() -> str:
    """SQLite; a module overrides this fixture (params ``BOTH_BACKENDS``) to run on both."""
    return "sqlite"


@pytest.fixture
async def make_harness(
    request: pytest.FixtureRequest, tmp_path: Path, harness_backend: str
) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []
    url = request.getfixturevalue("pg_url") if harness_backend == "postgres" else None

    def make(*providers: Provider, **kwargs: Any) -> Harness:
        kwargs.setdefault("database_url", url)
        harness = Harness(tmp_path, list(providers), **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
        await harness.http.aclose()
