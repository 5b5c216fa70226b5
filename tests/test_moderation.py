"""Moderator actions: each changes one thing, returns before/after and writes an audit row."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.core.errors import RequestValidationError
from bot.core.job import Job, JobKind, JobOrigin
from bot.core.states import JobState
from bot.moderation.actions import AuditAction, ModerationService
from bot.quotas.rules import BlockedPromptError, QuotaService, Reservation
from bot.storage.sqlite import quota_store, settings_repo
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.jobs_repo import JobsRepo
from bot.storage.sqlite.moderation_store import SqliteModerationStore
from bot.storage.sqlite.quota_store import SqliteQuotaStore
from bot.storage.sqlite.settings_repo import SettingsRepo
from bot.storage.sqlite.usage_repo import UsageRepo
from tests.jobs.support import FakeClock, request

G, MOD, U = 1, 99, 5


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 14, 12, tzinfo=UTC))


@pytest.fixture
def mod(db: Database, clock: FakeClock) -> ModerationService:
    return ModerationService(
        SqliteModerationStore(db, clock), max_daily_quota=100, max_grant=1000, clock=clock
    )


@pytest.fixture
def quota(db: Database, clock: FakeClock) -> QuotaService:
    return QuotaService(SqliteQuotaStore(db), default_daily_quota=10, clock=clock)


async def test_user_override_set_and_clear(mod: ModerationService, quota: QuotaService) -> None:
    change = await mod.set_user_override(G, MOD, U, 25, "event winner")
    assert (change.before, change.after, change.changed) == (None, 25, True)
    assert (await quota.status(G, U, [])).daily_allowance == 25
    change = await mod.clear_user_override(G, MOD, U, None)
    assert (change.before, change.after) == (25, None)
    assert (await quota.status(G, U, [])).daily_allowance == 10
    log = await mod.audit_log(G)
    assert [e.action for e in log] == [AuditAction.USER_OVERRIDE] * 2
    assert (log[1].actor_id, log[1].target_id, log[1].reason) == (MOD, U, "event winner")
    assert (log[1].before, log[1].after) == (None, 25)


async def test_bonus_never_goes_below_zero(mod: ModerationService) -> None:
    assert (await mod.grant_bonus(G, MOD, U, 3, None)).after == 3
    change = await mod.remove_bonus(G, MOD, U, 10, "abuse")
    assert (change.before, change.after) == (3, 0)
    with pytest.raises(RequestValidationError):
        await mod.grant_bonus(G, MOD, U, 0, None)


async def test_reset_usage_keeps_in_flight_reservations(
    db: Database, mod: ModerationService, quota: QuotaService, clock: FakeClock
) -> None:
    def reserve_two(conn: sqlite3.Connection) -> tuple[Reservation, Reservation]:
        now = clock()
        asked = {"guild_id": G, "user_id": U, "role_ids": (), "prompt": "x", "now": now}
        done = quota_store.reserve(conn, quota, count=6, **asked)
        open_ = quota_store.reserve(conn, quota, count=2, **asked)
        JobsRepo(conn).insert(
            Job(
                id="inflight",
                guild_id=G,
                channel_id=1,
                user_id=U,
                kind=JobKind.IMAGINE,
                origin=JobOrigin.SLASH,
                request=request(count=2),
                state=JobState.SUBMITTED,
                quota_day=open_.day,
                reserved_daily=open_.daily,
                reserved_bonus=0,
                created_at=now,
                updated_at=now,
            )
        )
        return done, open_

    done, _ = await db.run(reserve_two)
    assert done.daily == 6
    change = await mod.reset_usage(G, MOD, U, "bug")
    assert (change.before, change.after) == (8, 2)
    # the job in flight can still refund without driving the counter negative
    await db.run(lambda conn: UsageRepo(conn).add_daily(G, U, date(2025, 3, 14), -2))
    assert (await quota.status(G, U, [])).used_today == 0


async def test_guild_settings_and_role_allowance(mod: ModerationService) -> None:
    assert (await mod.set_guild_default(G, MOD, 3, None)).after == 3
    assert (await mod.set_budget(G, MOD, 50, None)).after == 50
    assert (await mod.set_role_allowance(G, MOD, 700, 8, None)).after == 8
    assert (await mod.set_modlog_channel(G, MOD, 1234, None)).after == 1234
    overview = await mod.overview(G)
    assert overview.settings.daily_quota == 3
    assert overview.settings.daily_budget == 50
    assert overview.role_allowances == {700: 8}
    assert await mod.modlog_channel(G) == 1234
    change = await mod.set_budget(G, MOD, None, "unlimited again")
    assert (change.before, change.after) == (50, None)
    assert (await mod.set_role_allowance(G, MOD, 700, None, None)).before == 8
    with pytest.raises(RequestValidationError):
        await mod.set_budget(G, MOD, -1, None)


async def test_block_and_unblock(mod: ModerationService, quota: QuotaService) -> None:
    assert (await mod.block_user(G, MOD, U, "spam")).after is True
    assert (await quota.status(G, U, [])).blocked
    change = await mod.unblock_user(G, MOD, U, None)
    assert (change.before, change.after) == (True, False)


async def test_blocklist_add_remove_list(mod: ModerationService) -> None:
    change = await mod.add_blocked_term(G, MOD, "  Big   BAD ", None)
    assert (change.before, change.after) == (False, True)
    assert not (await mod.add_blocked_term(G, MOD, "big bad", None)).changed
    await mod.add_blocked_term(G, MOD, "axe", None)
    assert await mod.blocked_terms(G) == ["axe", "big bad"]
    assert (await mod.remove_blocked_term(G, MOD, "AXE", None)).before is True
    assert not (await mod.remove_blocked_term(G, MOD, "axe", None)).changed
    assert await mod.blocked_terms(G) == ["big bad"]
    entry = (await mod.audit_log(G))[0]
    assert entry.after == {"term": "axe", "listed": False}
    with pytest.raises(RequestValidationError):
        await mod.add_blocked_term(G, MOD, "   ", None)


async def test_blocklist_stores_one_form_per_term_and_refuses_unmatchable_terms(
    mod: ModerationService,
) -> None:
    change = await mod.add_blocked_term(G, MOD, "  ＮＵ\u200bDE ", None)
    assert (change.before, change.after) == (False, True)
    # the same word in look-alike letters is the same term
    assert not (await mod.add_blocked_term(G, MOD, "пudе", None)).changed
    assert not (await mod.add_blocked_term(G, MOD, "NUDE", None)).changed
    assert await mod.blocked_terms(G) == ["nude"]
    for nothing in ("\u200b\u200b", "...", "_-_", "\u2060 \ufeff"):
        with pytest.raises(RequestValidationError, match="no letter or digit"):
            await mod.add_blocked_term(G, MOD, nothing, None)
    assert await mod.blocked_terms(G) == ["nude"]
    with pytest.raises(RequestValidationError, match="no letter or digit"):
        await mod.remove_blocked_term(G, MOD, "\u200b", None)
    assert (await mod.remove_blocked_term(G, MOD, "ｎｕｄｅ", None)).before is True
    assert await mod.blocked_terms(G) == []


async def test_terms_stored_before_normalising_still_match_and_can_be_removed(
    db: Database, mod: ModerationService, quota: QuotaService
) -> None:
    def old_rows(conn: sqlite3.Connection) -> None:
        repo = SettingsRepo(conn)
        for term in ("ｎｕｄｅ", "big-bad", "..."):
            repo.add_term(G, term, MOD, datetime.now(UTC))

    def reserve(prompt: str) -> Callable[[sqlite3.Connection], Reservation]:
        return lambda conn: quota_store.reserve(
            conn,
            quota,
            guild_id=G,
            user_id=U,
            role_ids=[],
            count=1,
            prompt=prompt,
            now=datetime.now(UTC),
        )

    await db.run(old_rows)
    for prompt in ("a nude", "the big bad wolf"):
        with pytest.raises(BlockedPromptError):
            await db.run(reserve(prompt))
    assert (await mod.remove_blocked_term(G, MOD, "Nude", None)).before is True
    assert (await mod.remove_blocked_term(G, MOD, "big bad", None)).before is True
    assert (await mod.remove_blocked_term(G, MOD, "...", None)).before is True
    assert await mod.blocked_terms(G) == []
    await db.run(reserve("a nude"))


async def test_audit_row_is_in_the_same_transaction(
    db: Database, mod: ModerationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(settings_repo.SettingsRepo, "add_audit", broken)
    with pytest.raises(sqlite3.OperationalError):
        await mod.set_guild_default(G, MOD, 3, None)
    monkeypatch.undo()
    assert (await mod.overview(G)).settings.daily_quota is None


async def test_usage_report_totals_top_users_and_providers(
    db: Database, mod: ModerationService, clock: FakeClock
) -> None:
    rows = [
        ("j1", 1, "poyo", "done", 3, date(2025, 3, 14)),
        ("j2", 2, "poyo", "done", 1, date(2025, 3, 13)),
        ("j3", 1, "apiyi", "failed", 0, date(2025, 3, 12)),
        ("j4", 3, "apiyi", "done", 4, date(2025, 3, 1)),  # outside 7 days
    ]
    await db.run(
        lambda conn: conn.executemany(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, kind, origin, request, "
            "state, provider, quota_day, reserved_daily, reserved_bonus, charged, "
            "created_at, updated_at) VALUES (?, ?, 1, ?, 'imagine', 'slash', '{}', ?, ?, ?, "
            "4, 0, ?, 'x', 'x')",
            [
                (job_id, G, user, state, provider, day.isoformat(), charged)
                for job_id, user, provider, state, charged, day in rows
            ],
        )
    )
    report = await mod.usage_report(G, days=7)
    assert report.since == date(2025, 3, 8)
    assert (report.totals.images, report.totals.jobs, report.totals.failed) == (4, 3, 1)
    assert report.top_users == ((1, 3), (2, 1))
    assert report.by_provider["poyo"].images == 4
    assert report.by_provider["apiyi"].failed == 1
    with pytest.raises(RequestValidationError):
        await mod.usage_report(G, days=0)


async def test_values_over_the_operators_ceilings_are_refused_and_change_nothing(
    mod: ModerationService, quota: QuotaService
) -> None:
    over_daily = [
        lambda: mod.set_user_override(G, MOD, U, 101, None),
        lambda: mod.set_guild_default(G, MOD, 101, None),
        lambda: mod.set_role_allowance(G, MOD, 700, 101, None),
        lambda: mod.set_budget(G, MOD, 10_000, None),
    ]
    for attempt in over_daily:
        with pytest.raises(RequestValidationError) as info:
            await attempt()
        assert "at most 100" in info.value.user_message
        assert "MAX_DAILY_QUOTA" in info.value.user_message
    with pytest.raises(RequestValidationError) as info:
        await mod.grant_bonus(G, MOD, U, 1001, None)
    assert "at most 1,000" in info.value.user_message
    assert "MAX_GRANT" in info.value.user_message

    assert await mod.audit_log(G) == []
    overview = await mod.overview(G)
    assert (overview.settings.daily_quota, overview.settings.daily_budget) == (None, None)
    assert overview.role_allowances == {}
    status = await quota.status(G, U, [700])
    assert (status.daily_allowance, status.bonus) == (10, 0)


async def test_the_ceilings_themselves_are_allowed_and_removal_has_none(
    mod: ModerationService, quota: QuotaService
) -> None:
    assert (await mod.set_user_override(G, MOD, U, 100, None)).after == 100
    assert (await mod.set_budget(G, MOD, 100, None)).after == 100
    assert (await mod.grant_bonus(G, MOD, U, 1000, None)).after == 1000
    assert (await mod.grant_bonus(G, MOD, U, 1000, None)).after == 2000
    # taking credits away never costs the operator: any amount, never below zero
    assert (await mod.remove_bonus(G, MOD, U, 5000, None)).after == 0
    assert (await quota.status(G, U, [])).daily_allowance == 100


async def test_ceilings_come_from_the_operator(db: Database, clock: FakeClock) -> None:
    strict = ModerationService(
        SqliteModerationStore(db, clock), max_daily_quota=5, max_grant=3, clock=clock
    )
    with pytest.raises(RequestValidationError, match="at most 5 images"):
        await strict.set_guild_default(G, MOD, 6, None)
    with pytest.raises(RequestValidationError, match="at most 3 credits"):
        await strict.grant_bonus(G, MOD, U, 4, None)
    assert (await strict.set_guild_default(G, MOD, 5, None)).after == 5
