"""Quota policy and the reserve/settle arithmetic against a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.core.clock import next_reset
from bot.core.errors import PermissionDeniedError, QuotaExceededError
from bot.core.job import Job, JobKind, JobOrigin
from bot.core.states import JobState
from bot.quotas.rules import (
    BlockedPromptError,
    GlobalBudgetExceededError,
    GuildBudgetExceededError,
    QuotaService,
    allowance_source,
    find_blocked_term,
    resolve_allowance,
    split_refund,
)
from bot.storage.sqlite import quota_store
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.quota_store import SqliteQuotaStore
from bot.storage.sqlite.settings_repo import SettingsRepo
from bot.storage.sqlite.usage_repo import UsageRepo
from tests.jobs.support import FakeClock, request

G, U = 10, 20


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 14, 23, 30, tzinfo=UTC))


@pytest.fixture
def quota(db: Database, clock: FakeClock) -> QuotaService:
    return QuotaService(SqliteQuotaStore(db), default_daily_quota=10, clock=clock)


async def reserve(
    db: Database, quota: QuotaService, count: int, *, user: int = U, roles=(), guild: int = G
):
    return await db.run(
        quota_store.reserve,
        quota,
        guild_id=guild,
        user_id=user,
        role_ids=roles,
        count=count,
        prompt="a cat",
        now=datetime.now(UTC),
    )


async def settle(db: Database, quota: QuotaService, job: Job, charged: int):
    return await db.run(quota_store.settle, quota, job, charged, datetime.now(UTC))


def job_for(res, *, user: int = U, guild: int = G) -> Job:
    now = datetime(2025, 3, 14, tzinfo=UTC)
    return Job(
        id="abcdefgh",
        guild_id=guild,
        channel_id=1,
        user_id=user,
        kind=JobKind.IMAGINE,
        origin=JobOrigin.SLASH,
        request=request(count=res.total),
        state=JobState.QUEUED,
        quota_day=res.day,
        reserved_daily=res.daily,
        reserved_bonus=res.bonus,
        created_at=now,
        updated_at=now,
    )


def test_resolve_allowance_precedence() -> None:
    roles = {1: 5, 2: 30}
    assert resolve_allowance(10, None, {}, [], None) == 10
    assert resolve_allowance(10, 3, {}, [], None) == 3
    assert resolve_allowance(10, 3, roles, [1, 2, 9], None) == 30
    assert resolve_allowance(10, 3, roles, [1], None) == 5
    assert resolve_allowance(10, 3, roles, [1, 2], 0) == 0


def test_split_refund_charges_allowance_first() -> None:
    s = split_refund(reserved_daily=2, reserved_bonus=2, charged=3)
    assert (s.charged, s.refunded_daily, s.refunded_bonus) == (3, 0, 1)
    s = split_refund(2, 2, 0)
    assert (s.refunded_daily, s.refunded_bonus) == (2, 2)
    with pytest.raises(ValueError, match="outside"):
        split_refund(1, 0, 2)


@pytest.mark.parametrize(
    ("prompt", "hit"),
    [
        ("A Gun on a table", "gun"),
        ("gunsmith at work", None),
        ("shot-gun", "gun"),
        ("the Big Bad wolf", "big bad"),
        ("bigbad", None),
    ],
)
def test_blocked_terms_match_whole_words_any_case(prompt: str, hit: str | None) -> None:
    assert find_blocked_term(prompt, ["gun", "big bad"]) == hit


def test_next_reset_is_next_utc_midnight() -> None:
    assert next_reset(datetime(2025, 3, 14, 23, 59, tzinfo=UTC)) == datetime(
        2025, 3, 15, tzinfo=UTC
    )


async def test_allowance_then_bonus_then_refusal(db: Database, quota: QuotaService) -> None:
    await db.run(lambda conn: SettingsRepo(conn).add_bonus(G, U, 3, datetime.now(UTC)))
    r1 = await reserve(db, quota, 8)
    assert (r1.daily, r1.bonus) == (8, 0)
    r2 = await reserve(db, quota, 4)
    assert (r2.daily, r2.bonus) == (2, 2)
    status = await quota.status(G, U, [])
    assert (status.used_today, status.remaining_today, status.bonus) == (10, 0, 1)
    with pytest.raises(QuotaExceededError, match="have 0 left today plus 1 bonus"):
        await reserve(db, quota, 2)
    await reserve(db, quota, 1)
    with pytest.raises(QuotaExceededError, match="used your 10 images for today; more at 00:00"):
        await reserve(db, quota, 1)


async def test_refusal_changes_nothing(db: Database, quota: QuotaService) -> None:
    await reserve(db, quota, 9)
    with pytest.raises(QuotaExceededError) as info:
        await reserve(db, quota, 2)
    assert info.value.reset_at == datetime(2025, 3, 15, tzinfo=UTC)
    assert await db.run_read(lambda conn: UsageRepo(conn).daily_used(G, U, date(2025, 3, 14))) == 9
    assert await db.run_read(lambda conn: UsageRepo(conn).guild_used(G, date(2025, 3, 14))) == 9


async def test_settle_refunds_exactly(db: Database, quota: QuotaService) -> None:
    await db.run(lambda conn: SettingsRepo(conn).add_bonus(G, U, 5, datetime.now(UTC)))
    await reserve(db, quota, 8)
    res = await reserve(db, quota, 4)  # 2 allowance + 2 bonus
    settlement = await settle(db, quota, job_for(res), charged=1)
    assert (settlement.refunded_daily, settlement.refunded_bonus) == (1, 2)
    status = await quota.status(G, U, [])
    assert (status.used_today, status.bonus) == (9, 5)
    assert await db.run_read(lambda conn: UsageRepo(conn).guild_used(G, date(2025, 3, 14))) == 9


async def test_day_rollover_restores_allowance_and_refunds_old_day(
    db: Database, quota: QuotaService, clock: FakeClock
) -> None:
    res = await reserve(db, quota, 10)
    with pytest.raises(QuotaExceededError):
        await reserve(db, quota, 1)
    clock.advance(hours=1)  # 00:30 the next UTC day
    status = await quota.status(G, U, [])
    assert (status.used_today, status.remaining_today) == (0, 10)
    assert status.reset_at == datetime(2025, 3, 16, tzinfo=UTC)
    await reserve(db, quota, 10)
    # yesterday's job fails after midnight: its refund goes back to yesterday's counter
    await settle(db, quota, job_for(res), charged=0)
    assert (await quota.status(G, U, [])).used_today == 10
    assert await db.run_read(lambda conn: UsageRepo(conn).daily_used(G, U, date(2025, 3, 14))) == 0


async def test_guild_budget_is_distinct_and_counts_everyone(
    db: Database, quota: QuotaService
) -> None:
    await db.run(lambda conn: SettingsRepo(conn).set_guild(G, datetime.now(UTC), daily_budget=5))
    await reserve(db, quota, 3, user=1)
    await reserve(db, quota, 2, user=2)
    with pytest.raises(GuildBudgetExceededError, match="server has used its daily budget of 5"):
        await reserve(db, quota, 1, user=3)


async def test_global_budget_counts_every_guild_and_changes_nothing_when_refused(
    db: Database, clock: FakeClock
) -> None:
    quota = QuotaService(
        SqliteQuotaStore(db), default_daily_quota=10, global_daily_budget=5, clock=clock
    )
    day = date(2025, 3, 14)
    first = await reserve(db, quota, 3, user=1, guild=100)
    await reserve(db, quota, 2, user=2, guild=200)
    with pytest.raises(GlobalBudgetExceededError, match="across all its servers") as info:
        await reserve(db, quota, 1, user=3, guild=300)
    assert info.value.reset_at == datetime(2025, 3, 15, tzinfo=UTC)

    def counters(conn: sqlite3.Connection) -> tuple[int, int, int]:
        usage = UsageRepo(conn)
        return usage.global_used(day), usage.guild_used(300, day), usage.daily_used(300, 3, day)

    assert await db.run_read(counters) == (5, 0, 0)
    # a refund frees room in the bot-wide budget, for any guild
    await settle(db, quota, job_for(first, user=1, guild=100), charged=1)
    assert await db.run_read(counters) == (3, 0, 0)
    await reserve(db, quota, 2, user=3, guild=300)
    assert await db.run_read(counters) == (5, 2, 2)
    # a new UTC day starts from zero
    clock.advance(hours=1)
    await reserve(db, quota, 5, user=3, guild=300)


async def test_without_a_global_budget_images_are_still_counted(
    db: Database, quota: QuotaService
) -> None:
    await reserve(db, quota, 10, user=1, guild=100)
    await reserve(db, quota, 10, user=2, guild=200)
    used = await db.run_read(lambda conn: UsageRepo(conn).global_used(date(2025, 3, 14)))
    assert used == 20


async def test_blocked_member_and_blocked_prompt(db: Database, quota: QuotaService) -> None:
    def block(conn: sqlite3.Connection) -> None:
        repo = SettingsRepo(conn)
        repo.set_member(G, 7, datetime.now(UTC), blocked=True)
        repo.add_term(G, "cat", 1, datetime.now(UTC))

    await db.run(block)
    with pytest.raises(PermissionDeniedError):
        await reserve(db, quota, 1, user=7)
    with pytest.raises(BlockedPromptError) as info:
        await reserve(db, quota, 1)
    assert "cat" not in info.value.user_message
    assert "blocked" in info.value.user_message


async def test_role_allowance_and_user_override(db: Database, quota: QuotaService) -> None:
    def allow(conn: sqlite3.Connection) -> None:
        repo = SettingsRepo(conn)
        repo.set_role_allowance(G, 500, 2)
        repo.set_role_allowance(G, 501, 4)

    await db.run(allow)
    assert (await quota.status(G, U, [500, 501])).daily_allowance == 4
    await db.run(
        lambda conn: SettingsRepo(conn).set_member(G, U, datetime.now(UTC), daily_override=1)
    )
    assert (await quota.status(G, U, [500, 501])).daily_allowance == 1


def test_allowance_source_names_the_rule_that_applies() -> None:
    roles = {1: 5, 2: 30}
    assert allowance_source(None, {}, [], None) == ("default", None)
    assert allowance_source(3, {}, [], None) == ("server", None)
    assert allowance_source(3, roles, [1, 2, 9], None) == ("role", 2)
    assert allowance_source(3, roles, [1, 2], 7) == ("member", None)
