"""``Database.run``/``run_read``: one synchronous function on aiosqlite's thread, in one hop.

They rely on two aiosqlite internals (``Connection._execute`` and ``Connection._conn``, see
``bot/db/connection.py``); if an aiosqlite upgrade changes them, these tests fail first.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from bot.db.connection import Database


class Refused(Exception):
    """A domain error raised inside the function."""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


def _put(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, 'x')", (key, value))


def _value(path: Path, key: str) -> str | None:
    """Read with a separate plain connection: only committed data is visible."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_aiosqlite_internals_are_still_there() -> None:
    assert callable(getattr(aiosqlite.Connection, "_execute", None)), (
        "aiosqlite.Connection._execute is gone: Database.run/_on_thread need rework "
        "(bot/db/connection.py)"
    )
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property), (
        "aiosqlite.Connection._conn is gone: Database.run/_on_thread need rework "
        "(bot/db/connection.py)"
    )


async def test_run_returns_the_value_and_commits(db: Database) -> None:
    seen: dict[str, object] = {}

    def work(conn: sqlite3.Connection, key: str, *, value: str) -> int:
        seen["conn"] = conn
        seen["thread"] = threading.get_ident()
        seen["in_transaction"] = conn.in_transaction
        _put(conn, key, value)
        row = conn.execute("SELECT key, value FROM bot_state WHERE key = ?", (key,)).fetchone()
        seen["row"] = (row["key"], row["value"])  # sqlite3.Row: by name
        return 42

    assert await db.run(work, "k", value="v") == 42
    assert isinstance(seen["conn"], sqlite3.Connection)
    assert seen["thread"] != threading.get_ident()  # off the event loop's thread
    assert seen["in_transaction"] is True
    assert seen["row"] == ("k", "v")
    assert _value(db.path, "k") == "v"


async def test_run_rolls_back_and_reraises_with_the_same_type(db: Database) -> None:
    def refuse(conn: sqlite3.Connection) -> None:
        _put(conn, "gone", "1")
        raise Refused("no")

    with pytest.raises(Refused, match="no"):
        await db.run(refuse)
    assert _value(db.path, "gone") is None

    def collide(conn: sqlite3.Connection) -> None:
        _put(conn, "dup", "1")
        _put(conn, "dup", "2")

    with pytest.raises(sqlite3.IntegrityError):
        await db.run(collide)
    assert _value(db.path, "dup") is None
    # nothing left open: the next transaction starts normally
    await db.run(_put, "after", "ok")
    assert _value(db.path, "after") == "ok"
    assert await db.run_read(lambda conn: conn.in_transaction) is False


async def test_run_read_is_one_call_without_a_transaction(db: Database) -> None:
    await db.run(_put, "k", "v")

    def read(conn: sqlite3.Connection, key: str) -> tuple[bool, str, int]:
        row = conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)).fetchone()
        return conn.in_transaction, row["value"], threading.get_ident()

    in_transaction, value, thread = await db.run_read(read, "k")
    assert (in_transaction, value) == (False, "v")
    assert thread != threading.get_ident()

    def fail(conn: sqlite3.Connection) -> None:
        raise Refused("read")

    with pytest.raises(Refused, match="read"):
        await db.run_read(fail)


async def test_cancelled_run_finishes_on_the_thread_before_the_lock_is_released(
    db: Database,
) -> None:
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(conn: sqlite3.Connection) -> None:
        started.set()
        _put(conn, "slow", "done")
        assert release.wait(5)
        order.append("slow")

    def after(conn: sqlite3.Connection) -> bool:
        order.append("after")
        return conn.in_transaction

    task = asyncio.create_task(db.run(slow))
    assert await asyncio.to_thread(started.wait, 5)
    next_one = asyncio.create_task(db.run(after))
    task.cancel()
    await asyncio.sleep(0.05)
    # the caller is cancelled, but the function is still running: the lock is still held
    assert not task.done()
    assert not next_one.done()
    assert order == []
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the function ran to its end and committed; the next transaction ran after it
    assert await next_one is True
    assert order == ["slow", "after"]
    assert _value(db.path, "slow") == "done"
    assert await db.run_read(lambda conn: conn.in_transaction) is False


async def test_cancelled_before_the_lock_runs_nothing(db: Database) -> None:
    release = threading.Event()
    first = asyncio.create_task(db.run(lambda conn: release.wait(5)))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(db.run(_put, "never", "1"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    release.set()
    assert await first is True
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert _value(db.path, "never") is None


async def test_ping_and_user_version_use_the_same_path(db: Database) -> None:
    assert await db.ping() is True
    assert await db.user_version() >= 1
