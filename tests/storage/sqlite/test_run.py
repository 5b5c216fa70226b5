"""``Database.run``/``run_read``: one synchronous function on the database's own thread, in
one hop, through public APIs only (stdlib ``sqlite3`` and ``loop.run_in_executor``)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage.sqlite import connection
from bot.storage.sqlite.connection import Database


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


def test_the_connection_module_uses_no_private_library_api() -> None:
    source = Path(connection.__file__).read_text("utf-8")
    assert "aiosqlite" not in source
    assert "._execute" not in source
    assert "._conn" not in source.replace("self._conn", "")


async def test_every_call_runs_on_one_and_the_same_thread(db: Database) -> None:
    """sqlite3 connections belong to the thread that made them: all work goes to that one."""
    threads = set()
    for _ in range(3):
        threads.add(await db.run(lambda conn: threading.get_ident()))
        threads.add(await db.run_read(lambda conn: threading.get_ident()))
    results = await asyncio.gather(
        *(db.run_read(lambda conn: threading.get_ident()) for _ in range(20))
    )
    threads.update(results)
    assert len(threads) == 1
    assert threads != {threading.get_ident()}


async def test_closing_ends_the_thread_and_refuses_more_work(tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    database = await Database.open(tmp_path / "bot.sqlite3")
    thread_id = await database.run_read(lambda conn: threading.get_ident())
    assert thread_id not in before
    await database.close()
    await database.close()  # twice is harmless
    with pytest.raises(sqlite3.ProgrammingError):
        await database.run_read(lambda conn: 1)
    for _ in range(200):
        if thread_id not in {t.ident for t in threading.enumerate()}:
            break
        await asyncio.sleep(0.01)
    assert thread_id not in {t.ident for t in threading.enumerate()}


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
