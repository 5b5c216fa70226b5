"""Opening the SQLite file, applying numbered migrations, and serialising access to it.

The bot keeps one aiosqlite connection. SQLite allows one writer at a time anyway, and
sharing one connection between coroutines is only safe if no coroutine can read another's
uncommitted writes, so every use goes through ``Database.transaction()`` (a write
transaction, ``BEGIN IMMEDIATE``) or ``Database.read()``, both under one asyncio lock.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the bot; refusing to touch it."""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file from ``bot/db/migrations``."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every shipped migration in version order; numbering must be 1, 2, 3 … with no gap."""
    found: list[Migration] = []
    for entry in resources.files("bot.db").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration gap: expected {expected:04d}, got {migration.name}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a migration into statements with sqlite3's own completeness test.

    ``executescript`` would COMMIT first and so cannot run inside our transaction.
    """
    import sqlite3

    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement and not _only_comments(statement):
                statements.append(statement)
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise RuntimeError("migration ends with an incomplete statement")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


class Database:
    """The bot's one SQLite connection, handed out one coroutine at a time."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True) -> Database:
        """Open (creating if needed) the file, set the pragmas and apply pending migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA synchronous=NORMAL")
            db = cls(conn, path)
            if migrate:
                await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (waits for a transaction in progress)."""
        async with self._lock:
            await self._conn.close()

    async def user_version(self) -> int:
        """The schema version stored in the file header."""
        async with self.read() as conn:
            return await _user_version(conn)

    async def migrate(self, migrations: list[Migration] | None = None) -> int:
        """Apply each pending migration in its own transaction; return the final version."""
        migrations = load_migrations() if migrations is None else migrations
        latest = migrations[-1].version if migrations else 0
        async with self._lock:
            current = await _user_version(self._conn)
            if current > latest:
                raise SchemaTooNewError(
                    f"database {self.path} is at schema version {current}, but this bot only "
                    f"knows up to {latest}; upgrade the bot instead of downgrading the data"
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                await self._apply(migration)
                log.info("applied migration %s", migration.name)
            return max(current, latest)

    async def _apply(self, migration: Migration) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(migration.sql):
                await self._conn.execute(statement)
            # PRAGMA takes no parameters; the version is an int we parsed from the name.
            await self._conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            await self._commit()
        except BaseException:
            await asyncio.shield(self._rollback())
            raise

    async def _commit(self) -> None:
        await self._conn.execute("COMMIT")

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on error."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
            # Shielded so a cancellation arriving now cannot leave the transaction open.
            try:
                await asyncio.shield(self._commit())
            except BaseException:
                await asyncio.shield(self._rollback())
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection for reads (autocommit, sees committed data only)."""
        async with self._lock:
            yield self._conn

    async def ping(self) -> bool:
        """True when a trivial query answers (for /healthz)."""
        try:
            async with asyncio.timeout(2.0), self.read() as conn, conn.execute("SELECT 1") as cur:
                row = await cur.fetchone()
        except Exception:
            log.exception("database ping failed")
            return False
        return row is not None and row[0] == 1


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0
