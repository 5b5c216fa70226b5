"""Opening the PostgreSQL pool and applying numbered migrations once, under an advisory lock.

Every process opens the same database; the first to take the session-level advisory lock
applies what is pending (each file in its own transaction, recorded in
``schema_migrations``), and the others, waiting on the lock, then find nothing to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
import stamina
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from bot.core.errors import SchemaTooNewError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: the advisory lock key of migrations (any constant all processes share: "seedream" in hex)
MIGRATION_LOCK = 0x5EED_0001
CONNECT_TIMEOUT = 10
#: the pool's name in psycopg's own logs (no reader sees it)
POOL_NAME = "seedream"
Conn = psycopg.AsyncConnection[TupleRow]
Pool = AsyncConnectionPool[Conn]
T = TypeVar("T")


@dataclass(frozen=True)
class PgMigration:
    """One numbered SQL file from ``bot/storage/postgres/migrations``."""

    version: int
    name: str
    sql: str


def load_pg_migrations() -> list[PgMigration]:
    """Every shipped migration in version order; numbering must be 1, 2, 3 … with no gap."""
    found: list[PgMigration] = []
    for entry in resources.files("bot.storage.postgres").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is not None:
            found.append(PgMigration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration gap: expected {expected:04d}, got {migration.name}")
    return found


def describe_url(url: str) -> str:
    """``host:port/db`` of a database URL: what logs and errors may show (no user, no
    password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the database in DATABASE_URL"
    return f"{host}{port}{parts.path or '/'}"


async def connect(url: str) -> psycopg.AsyncConnection[TupleRow]:
    """One autocommit connection (migrations, checks); raises ``psycopg.OperationalError``."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
    )


async def migrate(url: str, migrations: list[PgMigration] | None = None) -> int:
    """Apply each pending migration once across every process; return the final version."""
    migrations = load_pg_migrations() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    async with await connect(url) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            row = await cursor.fetchone()
            current = int(row[0]) if row else 0
            if current > latest:
                raise SchemaTooNewError(
                    f"the database is at schema version {current}, but this bot only knows up "
                    f"to {latest}; upgrade the bot instead of downgrading the data"
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied PostgreSQL migration %s", migration.name)
            return max(current, latest)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """An opened pool of autocommit connections (transactions are explicit)."""
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
        open=False,
        name=POOL_NAME,
    )
    await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    return pool


def is_transient(exc: Exception) -> bool:
    """A deadlock or serialisation failure: the transaction rolled back and may simply be
    tried again."""
    if isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure):
        log.warning("transaction conflicted; trying again: %s", type(exc).__name__)
        return True
    return False


async def transact(pool: Pool, fn: Callable[[Conn], Awaitable[T]]) -> T:
    """``fn(conn)`` in one transaction on a pooled connection; its result, or its exception
    after a ROLLBACK. Tried again after a deadlock or serialisation failure."""
    async for attempt in stamina.retry_context(
        on=is_transient, attempts=5, timeout=None, wait_initial=0.01, wait_max=0.5
    ):
        with attempt:
            async with pool.connection() as conn, conn.transaction():
                return await fn(conn)
    raise AssertionError("unreachable")  # pragma: no cover


async def read(pool: Pool, fn: Callable[[Conn], Awaitable[T]]) -> T:
    """``fn(conn)`` on a pooled autocommit connection (each statement sees what is
    committed when it runs)."""
    async with pool.connection() as conn:
        return await fn(conn)


def explain(exc: BaseException, url: str) -> str:
    """One line on why ``url`` could not be used, without its password."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    password = urlsplit(url).password if "://" in url else None
    if password:
        first = first.replace(password, "***")
    return f"cannot use the PostgreSQL database at {describe_url(url)}: {first}"


async def probe(url: str) -> str | None:
    """None when the server answers a query; else the one-line reason (for ``check``)."""
    try:
        async with await connect(url) as conn:
            await conn.execute("SELECT 1")
    except (psycopg.Error, OSError) as exc:
        return explain(exc, url)
    return None
