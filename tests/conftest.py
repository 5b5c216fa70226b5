"""Shared pytest fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.fakes.discord_fixtures import discord_endpoints, fake_discord
from tests.pg_support import pg_databases, pg_server, pg_template, pg_url
from tests.resilience.secrets_capture import secret_watch, secrets_never_leak

__all__ = [
    "discord_endpoints",
    "fake_discord",
    "pg_databases",
    "pg_server",
    "pg_template",
    "pg_url",
    "secret_watch",
    "secrets_never_leak",
]

#: third-party loggers whose DEBUG lines (hundreds per test) would drown a failure's report
CHATTY_LIBRARIES = ("httpcore", "PIL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the PostgreSQL server, so ``-m postgres`` selects them."""
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--library-debug",
        action="store_true",
        help=f"keep the DEBUG lines of {', '.join(CHATTY_LIBRARIES)} (quiet by default)",
    )


@pytest.fixture(scope="session", autouse=True)
def quiet_libraries(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep chatty libraries at WARNING, unless ``--library-debug`` asks for their lines."""
    if request.config.getoption("--library-debug"):
        yield
        return
    loggers = [logging.getLogger(name) for name in CHATTY_LIBRARIES]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)
