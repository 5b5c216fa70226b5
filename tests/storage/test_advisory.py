"""The one-per-cluster locks on a real PostgreSQL: two holders never overlap, and a holder
that dies (its connection gone) frees the lock at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psycopg
import pytest

from bot.storage.advisory import (
    IDENTIFY_KEY_BASE,
    NAMESPACE,
    SYNC_KEY,
    LocalLocks,
    PostgresLocks,
)
from tests.botprocess import free_port

HOLD = 0.4


async def test_the_same_bucket_is_held_for_the_spacing_across_lock_owners(pg_url: str) -> None:
    first, second = (PostgresLocks(pg_url, identify_hold=HOLD) for _ in range(2))
    try:
        await first.identify_turn(0)
        taken = time.monotonic()
        await second.identify_turn(0)  # another process's turn in the same bucket
        assert time.monotonic() - taken >= HOLD
        other_bucket = asyncio.create_task(first.identify_turn(1))
        await asyncio.wait_for(other_bucket, timeout=HOLD / 2)  # buckets are independent
    finally:
        await first.close()
        await second.close()


async def test_one_owner_takes_its_own_bucket_in_turn_too(pg_url: str) -> None:
    """Advisory locks are re-entrant per session; each turn has its own connection."""
    locks = PostgresLocks(pg_url, identify_hold=HOLD)
    try:
        await locks.identify_turn(3)
        taken = time.monotonic()
        await locks.identify_turn(3)
        assert time.monotonic() - taken >= HOLD
    finally:
        await locks.close()


async def test_command_sync_is_held_by_one_owner_at_a_time(pg_url: str) -> None:
    first, second = PostgresLocks(pg_url), PostgresLocks(pg_url)
    order: list[str] = []
    entered = asyncio.Event()

    async def hold(locks: PostgresLocks, name: str, release: asyncio.Event) -> None:
        async with locks.command_sync():
            order.append(f"{name} in")
            entered.set()
            await release.wait()
            order.append(f"{name} out")

    go = asyncio.Event()
    one = asyncio.create_task(hold(first, "first", go))
    await entered.wait()
    two = asyncio.create_task(hold(second, "second", asyncio.Event()))
    # The second waits on the server's lock until the first leaves, however long that is.
    await asyncio.sleep(0.3)
    assert order == ["first in"]
    go.set()
    await one
    await asyncio.wait_for(_until(lambda: order[-1:] == ["second in"]), timeout=5)
    two.cancel()
    assert order[:3] == ["first in", "first out", "second in"]


async def test_a_dead_holder_frees_its_locks_with_its_connection(pg_url: str) -> None:
    """A process killed while holding: its connection ends, and so do its locks."""
    victim = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    await victim.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, SYNC_KEY))
    await victim.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, IDENTIFY_KEY_BASE))
    locks = PostgresLocks(pg_url, identify_hold=HOLD)
    waiting = asyncio.create_task(locks.identify_turn(0))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,)
        )  # as when its host is lost
    await asyncio.wait_for(waiting, timeout=5)
    async with locks.command_sync():
        pass
    await locks.close()
    await victim.close()


async def test_local_locks_never_wait() -> None:
    locks = LocalLocks()
    assert locks.shared is False
    async with locks.command_sync(), locks.command_sync():
        await locks.identify_turn(0)
    await locks.close()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_without_the_database_an_identify_waits_the_spacing_locally(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reconnect while PostgreSQL is down still IDENTIFYs, spaced in this process."""
    closed = f"postgresql://bot:secret-pw@127.0.0.1:{free_port()}/bot"
    locks = PostgresLocks(closed, identify_hold=HOLD)
    started = time.monotonic()
    await locks.identify_turn(2)
    assert time.monotonic() - started >= HOLD
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "IDENTIFY bucket 2: the database is unreachable" in warning.getMessage()
    assert "secret-pw" not in caplog.text
