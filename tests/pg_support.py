"""PostgreSQL for tests: the server scripts/test starts, a migrated template, a db per test."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from bot.storage.postgres.pg_pool import migrate

#: set by scripts/test (its throwaway cluster) or by the caller (an existing server)
URL_ENV = "TEST_DATABASE_URL"

NO_SERVER = (
    f"PostgreSQL tests need a server: run them through ./scripts/test, which starts a throwaway "
    f"one from the machine's initdb/pg_ctl (none found here), or set {URL_ENV}"
)

_counter = itertools.count()

#: params of a fixture that runs a test on each backend (PostgreSQL ones marked)
BOTH_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database replaced by ``name``."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server_url, autocommit=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create ``name`` (from ``template`` if given) and return its URL."""
    with _admin(server_url) as conn:
        if template is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop ``name``, ending any connection a test left open."""
    with _admin(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def unique_name(prefix: str) -> str:
    """A database name no other test run on the same server picks (pid + counter + random)."""
    return f"{prefix}_{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server's URL; skips (fails under ``CI=true``) when there is none."""
    url = os.environ.get(URL_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NO_SERVER}; CI=true, so the PostgreSQL tests must run", pytrace=False)
        pytest.skip(NO_SERVER)
    return url


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A template database, created and migrated once per session, that every test database
    copies (much faster than migrating each)."""
    name = unique_name("tpl")
    url = create_database(pg_server, name)
    try:
        # on a thread of its own: the fixture may be set up from inside a running loop
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, migrate(url)).result()
        yield name
    finally:
        drop_database(pg_server, name)


@pytest.fixture
def pg_databases(pg_server: str, pg_template: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh databases copied from the template; all dropped after the test."""
    made: list[str] = []

    def make() -> str:
        name = unique_name("t")
        made.append(name)
        return create_database(pg_server, name, template=pg_template)

    try:
        yield make
    finally:
        for name in made:
            drop_database(pg_server, name)


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    """The URL of a fresh database of the test's own."""
    return pg_databases()
