"""Opening the SQLite file, applying numbered migrations, and serialising access to it.

The bot keeps one stdlib ``sqlite3`` connection, living on one dedicated thread (a
single-worker executor): every call to it is one ``loop.run_in_executor`` hop, so nothing
touches the file on the event loop and only public APIs are used. SQLite allows one
writer at a time anyway, and sharing one connection between coroutines is only safe if no
coroutine can read another's uncommitted writes, so every use holds one asyncio lock.

The stores use ``Database.run(fn)``: ``fn(conn)`` is a plain synchronous function over the
``sqlite3.Connection``, run between ``BEGIN IMMEDIATE`` and ``COMMIT`` on that thread in one
hop. A hop (thread wake-up, then event-loop wake-up) costs far more than a typical
statement, so a transaction of a dozen statements done one ``await`` each would spend most
of its time in hops; done as one function it costs one. ``run_read(fn)`` is the same for
reads, without a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from bot.core.errors import SchemaTooNewError

__all__ = ["SchemaTooNewError"]  # defined with the other backends' errors; raised here

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file from ``bot/storage/sqlite/migrations``."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every shipped migration in version order; numbering must be 1, 2, 3 … with no gap."""
    found: list[Migration] = []
    for entry in resources.files("bot.storage.sqlite").joinpath("migrations").iterdir():
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
    """The bot's one SQLite connection, on its own thread, handed out one coroutine at a time."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, path: Path) -> None:
        self._conn = conn
        self._executor = executor
        self._lock = asyncio.Lock()
        self._closed = False
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, migrate: bool = True) -> Database:
        """Open (creating if needed) the file, set the pragmas and apply pending migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # One worker: the connection is made on, and only ever used from, that one thread.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        db = cls(conn, executor, path)
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (waits for a transaction in progress) and end its thread."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._call(_close)
            finally:
                # The queue is empty now: the thread ends without blocking the loop.
                self._executor.shutdown(wait=False)

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(conn, *args, **kwargs)`` in one write transaction, in one hop to the database
        thread; its result, or its exception after a ROLLBACK.

        ``fn`` is synchronous and runs on the database thread between ``BEGIN IMMEDIATE``
        and ``COMMIT``. Once started it cannot be interrupted: if the awaiting task is
        cancelled meanwhile, the lock is held until ``fn`` and its COMMIT (or ROLLBACK) have
        finished, and only then is ``CancelledError`` raised; the outcome stands.
        """
        async with self._lock:
            return await self._transact(lambda conn: fn(conn, *args, **kwargs))

    async def run_read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(conn, *args, **kwargs)`` on the database thread in one hop, without a
        transaction (each statement sees the data committed when it runs).

        Unlike ``run``, a cancelled caller returns at once: a read leaves nothing open, and
        the thread runs queued functions one after another, so the next user of the
        connection simply starts after it.
        """
        async with self._lock:
            return await self._call(lambda conn: fn(conn, *args, **kwargs))

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the database thread: one hop there and back. Lock held.

        Cancelling the await does not stop ``fn`` once the thread has started it.
        """
        if self._closed and fn is not _close:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn)

    async def _transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in a write transaction on the thread, awaited to its end. Lock held."""
        return await _to_completion(self._call(partial(_in_transaction, fn)))

    async def user_version(self) -> int:
        """The schema version stored in the file header."""
        return await self.run_read(_user_version)

    async def migrate(self, migrations: list[Migration] | None = None) -> int:
        """Apply each pending migration in its own transaction; return the final version."""
        migrations = load_migrations() if migrations is None else migrations
        latest = migrations[-1].version if migrations else 0
        async with self._lock:
            current = await self._call(_user_version)
            if current > latest:
                raise SchemaTooNewError(
                    f"database {self.path} is at schema version {current}, but this bot only "
                    f"knows up to {latest}; upgrade the bot instead of downgrading the data"
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                await self._transact(partial(_apply_migration, migration))
                log.info("applied migration %s", migration.name)
            return max(current, latest)

    async def ping(self) -> bool:
        """True when a trivial query answers (for /healthz)."""
        try:
            async with asyncio.timeout(2.0):
                return await self.run_read(_select_one) == 1
        except Exception:
            log.exception("database ping failed")
            return False


def _connect(path: Path) -> sqlite3.Connection:
    """Open the file on the database thread and set the pragmas."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves.
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _close(conn: sqlite3.Connection) -> None:
    conn.close()


async def _to_completion(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile, then re-raise
    the cancellation (the work's result or error is dropped)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the caller asked for cancellation, not this
        raise


def _in_transaction(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    """``fn(conn)`` between BEGIN IMMEDIATE and COMMIT; ROLLBACK and re-raise on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _apply_migration(migration: Migration, conn: sqlite3.Connection) -> None:
    for statement in split_statements(migration.sql):
        conn.execute(statement)
    # PRAGMA takes no parameters; the version is an int we parsed from the name.
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row is not None else 0


def _select_one(conn: sqlite3.Connection) -> object:
    row = conn.execute("SELECT 1").fetchone()
    return None if row is None else row[0]
