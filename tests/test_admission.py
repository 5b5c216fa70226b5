"""The doors' precheck: the reservation's own rules as a dry run that writes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.errors import QuotaExceededError
from bot.core.job import JobKind, JobOrigin, JobSpec
from bot.quotas.admission import Admission
from bot.quotas.rules import BlockedPromptError, BlockedUserError, QuotaService
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.quota_store import SqliteQuotaStore
from bot.storage.sqlite.settings_repo import SettingsRepo
from tests.jobs.support import FakeClock, request

G, U = 10, 20


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def quota(db: Database) -> QuotaService:
    clock = FakeClock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))
    return QuotaService(SqliteQuotaStore(db), default_daily_quota=2, clock=clock)


def spec(count: int = 1, prompt: str = "a cat") -> JobSpec:
    return JobSpec(
        guild_id=G,
        channel_id=1,
        user_id=U,
        role_ids=(),
        kind=JobKind.EDIT,
        origin=JobOrigin.REPLY,
        request=request(count=count, prompt=prompt),
    )


async def test_a_passing_precheck_holds_nothing(db: Database, quota: QuotaService) -> None:
    await db.run(lambda conn: SettingsRepo(conn).add_bonus(G, U, 3, datetime.now(UTC)))
    admission = Admission(quota)
    for _ in range(5):
        await admission.precheck(spec(count=5))  # allowance 2 + bonus 3, every time
    status = await quota.status(G, U, [])
    assert (status.used_today, status.bonus) == (0, 3)
    with pytest.raises(QuotaExceededError):
        await admission.precheck(spec(count=6))


async def test_precheck_refuses_as_the_reservation_does(db: Database, quota: QuotaService) -> None:
    admission = Admission(quota)

    def block_term(conn: sqlite3.Connection) -> None:
        SettingsRepo(conn).add_term(G, "cat", 1, datetime.now(UTC))

    await db.run(block_term)
    with pytest.raises(BlockedPromptError):
        await admission.precheck(spec(prompt="a Cat on a mat"))

    def block_member(conn: sqlite3.Connection) -> None:
        SettingsRepo(conn).set_member(G, U, datetime.now(UTC), blocked=True)

    await db.run(block_member)
    with pytest.raises(BlockedUserError):
        await admission.precheck(spec())
