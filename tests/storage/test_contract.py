"""The storage contract: what every store must do, written against the Protocols only.

Parametrised by a store factory: SQLite today; the PostgreSQL store joins as a second
parameter and must pass the same tests unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.accounts import (
    AuditNote,
    GuildField,
    Limit,
    QuotaSnapshot,
    Reservation,
    Settlement,
)
from bot.core.asked import MemberDefaults
from bot.core.errors import QuotaExceededError
from bot.core.job import Job, JobAction, JobImage, JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest, TaskKind
from bot.core.states import IllegalTransitionError, JobState
from bot.quotas.rules import (
    BlockedPromptError,
    BlockedUserError,
    GlobalBudgetExceededError,
    GuildBudgetExceededError,
    QuotaService,
)
from bot.storage.postgres.pg_store import PgStore
from bot.storage.protocols import QuotaRules, Store
from bot.storage.sqlite.store import SqliteStore
from tests.jobs.support import FakeClock

G, U, MOD = 10, 20, 99
DAY = date(2025, 3, 14)
ALLOWANCE = 4

StoreFactory = Callable[[pytest.FixtureRequest, Path, FakeClock], Awaitable[Store]]


async def _sqlite(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Store:
    return await SqliteStore.open(tmp_path / "bot.sqlite3", clock=clock)


async def _postgres(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Store:
    # a fresh migrated database of the test's own (tests/pg_support.py)
    return await PgStore.open(request.getfixturevalue("pg_url"), clock=clock)


FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 14, 12, tzinfo=UTC))


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.postgres] if name == "postgres" else [])
        for name in sorted(FACTORIES)
    ]
)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Store]:
    opened = await FACTORIES[request.param](request, tmp_path, clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def rules(store: Store, clock: FakeClock) -> QuotaService:
    return QuotaService(store.quotas, default_daily_quota=ALLOWANCE, clock=clock)


def spec(count: int = 1, *, user: int = U, guild: int = G, prompt: str = "a cat") -> JobSpec:
    return JobSpec(
        guild_id=guild,
        channel_id=1,
        user_id=user,
        role_ids=(),
        kind=JobKind.IMAGINE,
        origin=JobOrigin.SLASH,
        request=GenerationRequest(prompt=prompt, count=count),
    )


async def create(store: Store, rules: QuotaRules, count: int = 1, **kwargs: object) -> Job:
    asked = spec(count, **kwargs)  # type: ignore[arg-type]
    return await store.jobs.create(asked, asked.request, rules)


async def counters(store: Store, user: int = U, guild: int = G) -> tuple[int, int, int, int]:
    """(member's daily used, guild used, bot-wide used, bonus left) today."""
    snap = await store.quotas.snapshot(guild, user, DAY)
    return snap.daily_used, snap.guild_used, snap.global_used, snap.member.bonus


async def deliver(store: Store, job: Job, images: int, provider: str = "fake") -> None:
    """Submit and enter delivering with ``images`` stored images."""
    await store.jobs.transition(job.id, JobState.SUBMITTED, provider=provider, task_id="t")
    stored = [
        JobImage(index=i, filename=f"{i}.png", content_type="image/png") for i in range(images)
    ]
    await store.jobs.start_delivering(job.id, stored, progress=100)


def note(action: str = "test", **kwargs: object) -> AuditNote:
    return AuditNote(MOD, action, **kwargs)  # type: ignore[arg-type]


class BrokenRules:
    """Rules that admit with a reservation the counters cannot hold (a stale snapshot, or a
    bug): the store's guarded updates must refuse it and roll back what they moved."""

    def __init__(self, rules: QuotaService, change: Callable[[Reservation], Reservation]):
        self._rules = rules
        self._change = change

    def today(self) -> date:
        return self._rules.today()

    def admit(
        self, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int, prompt: str
    ) -> Reservation:
        return self._change(self._rules.admit(snapshot, role_ids, count, prompt))

    def refusal(
        self, limit: Limit, snapshot: QuotaSnapshot, role_ids: Sequence[int], count: int
    ) -> Exception:
        return self._rules.refusal(limit, snapshot, role_ids, count)

    def settle(self, reserved_daily: int, reserved_bonus: int, charged: int) -> Settlement:
        return self._rules.settle(reserved_daily, reserved_bonus, charged)


# ---------------------------------------------------------------- create + reserve


async def test_create_reserves_and_inserts_together(store: Store, rules: QuotaService) -> None:
    await store.moderation.change_bonus(G, U, 2, note())
    job = await create(store, rules, 3)
    assert (job.state, job.quota_day, job.reserved_daily, job.reserved_bonus) == (
        JobState.QUEUED,
        DAY,
        3,
        0,
    )
    assert await store.jobs.get(job.id) == job
    assert await counters(store) == (3, 3, 3, 2)
    second = await create(store, rules, 2)  # 1 allowance left, then 1 bonus
    assert (second.reserved_daily, second.reserved_bonus) == (1, 1)
    assert await counters(store) == (4, 5, 5, 1)
    assert [j.id for j in await store.jobs.recent(G, U, 10)] == [second.id, job.id]


async def test_a_job_read_back_is_lean_and_unchanged(store: Store, rules: QuotaService) -> None:
    """Thousands of jobs in flight are held as read back: no per-job dict on the Job, and the
    request keeps no set naming every field (2 KiB each), yet every value it was given."""
    asked = GenerationRequest(prompt="a fox", count=2, seed=7, reference_images=("https://x/a",))
    job = await store.jobs.create(replace(spec(2), request=asked), asked, rules)
    got = await store.jobs.get(job.id)
    assert got is not None
    assert got.request == asked
    assert got.request.model_fields_set == {"prompt", "count", "seed", "reference_images"}
    assert not hasattr(got, "__dict__")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda r: replace(r, guild_limit=0), GuildBudgetExceededError),
        (lambda r: replace(r, global_limit=0), GlobalBudgetExceededError),
        (lambda r: replace(r, daily_limit=0), QuotaExceededError),
        (lambda r: replace(r, bonus=r.bonus + 5), QuotaExceededError),  # bonus not there
    ],
    ids=["guild", "global", "daily", "bonus"],
)
async def test_a_guard_refusing_midway_rolls_back_every_counter_already_moved(
    store: Store,
    rules: QuotaService,
    change: Callable[[Reservation], Reservation],
    error: type[Exception],
) -> None:
    await create(store, rules, 1)
    before = await counters(store)
    with pytest.raises(error):
        await create(store, BrokenRules(rules, change), 1)
    assert await counters(store) == before
    assert len(await store.jobs.unfinished()) == 1


async def test_concurrent_creates_never_overspend(store: Store, rules: QuotaService) -> None:
    await store.moderation.change_bonus(G, U, 3, note())

    async def ask() -> int:
        try:
            return (await create(store, rules, 1)).cost_reserved
        except QuotaExceededError:
            return 0

    held = await asyncio.gather(*(ask() for _ in range(30)))
    assert sum(held) == ALLOWANCE + 3
    assert await counters(store) == (ALLOWANCE, ALLOWANCE + 3, ALLOWANCE + 3, 0)


# ---------------------------------------------------------------- refusals


async def test_a_refusal_changes_nothing(store: Store, rules: QuotaService) -> None:
    await create(store, rules, 3)
    await store.moderation.set_guild_field(G, GuildField.DAILY_BUDGET, 10, note())
    await store.moderation.add_blocked_term(G, "dog", lambda listed: listed == "dog", note())
    await store.moderation.set_blocked(G, 7, True, note())
    before = await counters(store)
    jobs_before = await store.jobs.count_by_state()
    with pytest.raises(QuotaExceededError, match="asked for 2 images but have 1 left"):
        await create(store, rules, 2)
    with pytest.raises(BlockedPromptError):
        await create(store, rules, 1, prompt="a dog")
    with pytest.raises(BlockedUserError):
        await create(store, rules, 1, user=7)
    for asked in (spec(2), spec(1, prompt="a dog"), spec(1, user=7)):
        with pytest.raises((QuotaExceededError, BlockedPromptError, BlockedUserError)):
            await store.quotas.precheck(asked, rules)
    assert await counters(store) == before
    assert await counters(store, user=7) == (0, 3, 3, 0)
    assert await store.jobs.count_by_state() == jobs_before


async def test_a_passing_precheck_holds_nothing(store: Store, rules: QuotaService) -> None:
    for _ in range(3):
        await store.quotas.precheck(spec(ALLOWANCE), rules)
    assert await counters(store) == (0, 0, 0, 0)
    assert await store.jobs.unfinished() == []


# ---------------------------------------------------------------- finish + settle


async def test_finish_settles_exactly_once(store: Store, rules: QuotaService) -> None:
    await store.moderation.change_bonus(G, U, 2, note())
    job = await create(store, rules, 6)  # 4 allowance + 2 bonus
    await deliver(store, job, 3)
    await store.jobs.mark_delivered(job.id, [0, 1, 2], 555)
    ending = await store.jobs.finish(job.id, JobState.DONE, rules)
    assert ending.job.state is JobState.DONE
    assert ending.job.charged == 3
    assert ending.job.finished_at == datetime(2025, 3, 14, 12, tzinfo=UTC)
    assert (ending.settlement.charged, ending.settlement.refunded_daily) == (3, 1)
    assert ending.settlement.refunded_bonus == 2  # bonus goes back first
    assert await counters(store) == (3, 3, 3, 2)
    with pytest.raises(IllegalTransitionError):
        await store.jobs.finish(job.id, JobState.FAILED, rules, error_code="late")
    assert await counters(store) == (3, 3, 3, 2)
    assert (await store.jobs.get(job.id)) == ending.job


async def test_racing_finishes_settle_once(store: Store, rules: QuotaService) -> None:
    job = await create(store, rules, 3)
    results = await asyncio.gather(
        *(
            store.jobs.finish(job.id, JobState.FAILED, rules, error_code="x", error_message="m")
            for _ in range(4)
        ),
        store.jobs.finish(job.id, JobState.CANCELLED, rules),
        return_exceptions=True,
    )
    endings = [r for r in results if not isinstance(r, BaseException)]
    assert len(endings) == 1
    assert all(isinstance(r, IllegalTransitionError) for r in results if r not in endings)
    assert await counters(store) == (0, 0, 0, 0)


# ---------------------------------------------------------------- posting


async def test_record_posted_settles_when_the_last_awaited_image_is_posted(
    store: Store, rules: QuotaService
) -> None:
    job = await create(store, rules, 3)
    await deliver(store, job, 3)
    assert await store.jobs.record_posted(job.id, [1], 11, rules, awaited={0, 1}) is None
    assert (await store.jobs.get(job.id)).state is JobState.DELIVERING  # type: ignore[union-attr]
    assert await counters(store) == (3, 3, 3, 0)
    ending = await store.jobs.record_posted(job.id, [0], 10, rules, awaited={0, 1})
    assert ending is not None
    assert (ending.job.state, ending.settlement.charged, ending.settlement.refunded) == (
        JobState.DONE,
        2,
        1,
    )
    assert set(ending.job.result_message_ids) == {10, 11}
    assert [i.message_id for i in ending.job.images] == [10, 11, None]
    assert await counters(store) == (2, 2, 2, 0)
    # a late duplicate changes nothing and settles nothing
    assert await store.jobs.record_posted(job.id, [0, 1, 2], 12, rules) is None
    final = await store.jobs.get(job.id)
    assert final is not None
    assert (final.state, final.charged, final.images[2].delivered) == (JobState.DONE, 2, False)
    assert await counters(store) == (2, 2, 2, 0)


async def test_messages_are_remembered(store: Store, rules: QuotaService) -> None:
    job = await create(store, rules, 1)
    assert await store.jobs.record_messages(job.id, 900, [901, 902]) is True
    assert await store.jobs.record_messages("nosuchjob", 900, [903]) is False
    got = await store.jobs.get(job.id)
    assert got is not None
    assert (got.card_message_id, got.result_message_ids) == (900, (901, 902))


# ---------------------------------------------------------------- lookups


async def test_unfinished_lists_open_jobs_oldest_first(
    store: Store, rules: QuotaService, clock: FakeClock
) -> None:
    first = await create(store, rules, 1)
    clock.advance(seconds=1)
    second = await create(store, rules, 1, user=21)
    clock.advance(seconds=1)
    third = await create(store, rules, 1, user=22)
    await store.jobs.transition(second.id, JobState.SUBMITTED, task_id="t")
    await store.jobs.finish(first.id, JobState.CANCELLED, rules)
    assert [j.id for j in await store.jobs.unfinished()] == [second.id, third.id]
    counts = await store.jobs.count_by_state()
    assert set(counts) == set(JobState)
    assert (counts[JobState.CANCELLED], counts[JobState.SUBMITTED], counts[JobState.QUEUED]) == (
        1,
        1,
        1,
    )


async def test_lineage_is_kept_and_children_are_listed_oldest_first(
    store: Store, rules: QuotaService, clock: FakeClock
) -> None:
    parent = await create(store, rules, 1)
    assert (parent.parent_job_id, parent.source_index, parent.action) == (None, None, None)
    made = []
    for index, action in [(1, JobAction.VARY_STRONG), (None, JobAction.REMIX)]:
        clock.advance(seconds=1)
        asked = replace(spec(1), parent_job_id=parent.id, source_index=index, action=action)
        made.append(await store.jobs.create(asked, asked.request, rules))
    await create(store, rules, 1)  # unrelated
    got = await store.jobs.get(made[0].id)
    assert got is not None
    assert (got.parent_job_id, got.source_index, got.action) == (
        parent.id,
        1,
        JobAction.VARY_STRONG,
    )
    children = await store.jobs.children(parent.id)
    assert [(c.id, c.source_index, c.action) for c in children] == [
        (made[0].id, 1, JobAction.VARY_STRONG),
        (made[1].id, None, JobAction.REMIX),
    ]
    assert await store.jobs.children(made[0].id) == []


async def test_callbacks_find_the_job_by_its_current_key(store: Store, rules: QuotaService) -> None:
    job = await create(store, rules, 1)
    assert await store.jobs.by_callback_key("k1") is None
    moved = await store.jobs.transition(job.id, JobState.SUBMITTED, callback_key="k1", task_id="t")
    assert moved.callback_key == "k1"
    assert (await store.jobs.by_callback_key("k1")) == moved
    assert await store.jobs.amend(job.id, {JobState.SUBMITTED}, callback_key="k2") is True
    assert await store.jobs.by_callback_key("k1") is None
    found = await store.jobs.by_callback_key("k2")
    assert found is not None
    assert found.id == job.id
    # a guarded update outside its states changes nothing
    assert await store.jobs.amend(job.id, {JobState.QUEUED}, callback_key="k3") is False
    assert await store.jobs.by_callback_key("k3") is None


async def test_illegal_transitions_are_refused(store: Store, rules: QuotaService) -> None:
    job = await create(store, rules, 1)
    with pytest.raises(IllegalTransitionError):
        await store.jobs.transition(job.id, JobState.DELIVERING)
    assert (await store.jobs.get(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert await store.jobs.get("nosuchjob") is None


# ---------------------------------------------------------------- moderation


async def test_moderator_changes_are_audited_with_the_change(store: Store) -> None:
    mod = store.moderation
    change = await mod.set_member_override(G, U, 9, note("user_override", target_id=U))
    assert (change.before, change.after) == (None, 9)
    assert (await mod.change_bonus(G, U, 5, note("bonus"))).after == 5
    assert (await mod.change_bonus(G, U, -8, note("bonus"))).after == 0  # never below 0
    assert (await mod.set_blocked(G, U, True, note("block"))).after is True
    budget = await mod.set_guild_field(G, GuildField.DAILY_BUDGET, 50, note("budget"))
    assert (budget.before, budget.after) == (None, 50)
    role = await mod.set_role_allowance(G, 700, 8, note("role_allowance"))
    assert (role.before, role.after) == (None, 8)
    term = note("blocklist", subject="dog", reason="spam")
    added = await mod.add_blocked_term(G, "dog", lambda listed: listed == "dog", term)
    assert (added.before, added.after) == (False, True)
    again = await mod.add_blocked_term(G, "dog", lambda listed: listed == "dog", term)
    assert (again.before, again.after, again.changed) == (True, True, False)
    assert await mod.blocked_terms(G) == ["dog"]
    removed = await mod.remove_blocked_terms(G, lambda listed: listed == "dog", term)
    assert (removed.before, removed.after) == (True, False)
    assert await mod.blocked_terms(G) == []

    log = await mod.audit_log(G, 50)
    assert [e.action for e in log] == [
        "blocklist",
        "blocklist",
        "blocklist",
        "role_allowance",
        "budget",
        "block",
        "bonus",
        "bonus",
        "user_override",
    ]
    assert [e.id for e in log] == sorted((e.id for e in log), reverse=True)
    assert log[-1].id == change.audit_id
    assert (log[-1].actor_id, log[-1].target_id, log[-1].before, log[-1].after) == (
        MOD,
        U,
        None,
        9,
    )
    assert log[0].before == {"term": "dog", "listed": True}
    assert log[0].reason == "spam"
    assert log[0].created_at == datetime(2025, 3, 14, 12, tzinfo=UTC)
    snap = await store.quotas.snapshot(G, U, DAY)
    assert (snap.member.daily_override, snap.member.bonus, snap.member.blocked) == (9, 0, True)
    assert (snap.guild.daily_budget, dict(snap.role_allowances)) == (50, {700: 8})
    overview = await mod.overview(G)
    assert (overview.settings.daily_budget, overview.blocked_term_count) == (50, 0)
    assert (await mod.guild_settings(G)).daily_budget == 50


async def test_reset_usage_keeps_what_unfinished_jobs_hold(
    store: Store, rules: QuotaService
) -> None:
    done = await create(store, rules, 2)
    await deliver(store, done, 2)
    await store.jobs.record_posted(done.id, [0, 1], 1, rules)
    await create(store, rules, 1)  # still queued
    change = await store.moderation.reset_usage(G, U, DAY, note("reset_usage", target_id=U))
    assert (change.before, change.after) == (3, 1)
    assert (await counters(store))[0] == 1


async def test_usage_report_counts_charged_images(store: Store, rules: QuotaService) -> None:
    job = await create(store, rules, 2)
    await deliver(store, job, 2)
    await store.jobs.record_posted(job.id, [0], 1, rules, awaited={0})
    failed = await create(store, rules, 1, user=21)
    await store.jobs.finish(failed.id, JobState.FAILED, rules, error_code="x")
    report = await store.moderation.usage_report(G, DAY, 1, 10)
    assert (report.totals.images, report.totals.jobs, report.totals.failed) == (1, 2, 1)
    assert report.top_users == ((U, 1),)
    assert report.by_provider["fake"].images == 1
    assert report.per_day == ((DAY, "fake", 1),)


async def test_usage_report_splits_each_day_by_provider(store: Store, rules: QuotaService) -> None:
    """The /quota usage chart's stacks: charged images per UTC day and provider, by day."""
    first = await create(store, rules, 2)
    await deliver(store, first, 2)
    await store.jobs.record_posted(first.id, [0, 1], 1, rules)
    second = await create(store, rules, 1, user=22)
    await deliver(store, second, 1, provider="another")
    await store.jobs.record_posted(second.id, [0], 0, rules)
    uncharged = await create(store, rules, 1, user=21)
    await store.jobs.finish(uncharged.id, JobState.FAILED, rules, error_code="x")
    report = await store.moderation.usage_report(G, DAY - timedelta(days=1), 2, 10)
    assert report.per_day == ((DAY, "another", 1), (DAY, "fake", 2))
    later = await store.moderation.usage_report(G, DAY + timedelta(days=1), 1, 10)
    assert later.per_day == ()


# ---------------------------------------------------------------- process state


async def test_state_values_and_ping(store: Store) -> None:
    assert await store.state.get("tree") is None
    await store.state.set("tree", "abc")
    await store.state.set("tree", "def")
    assert await store.state.get("tree") == "def"
    assert await store.ping() is True


# ------------------------------------------------------ member defaults and server styles


async def test_member_defaults_are_per_member_per_server(store: Store) -> None:
    prefs = store.preferences
    assert await prefs.member_defaults(G, U) == MemberDefaults()
    saved = MemberDefaults(model="m", ratio="16:9", count=3, style="anime", private=True)
    await prefs.set_member_defaults(G, U, saved)
    assert await prefs.member_defaults(G, U) == saved
    assert await prefs.member_defaults(G + 1, U) == MemberDefaults()
    assert await prefs.member_defaults(G, U + 1) == MemberDefaults()
    changed = saved.updated(spoiler=False, ratio="1:1")
    await prefs.set_member_defaults(G, U, changed)
    got = await prefs.member_defaults(G, U)
    assert (got.spoiler, got.private, got.ratio) == (False, True, "1:1")
    assert await prefs.clear_member_defaults(G, U) is True
    assert await prefs.clear_member_defaults(G, U) is False
    assert await prefs.member_defaults(G, U) == MemberDefaults()


async def test_server_styles_add_replace_remove(store: Store) -> None:
    prefs = store.preferences
    assert await prefs.guild_styles(G) == {}
    assert await prefs.put_guild_style(G, "noir", "{prompt}, film noir", MOD) is False
    assert await prefs.put_guild_style(G, "gold", "{prompt}, golden hour", MOD) is False
    assert await prefs.put_guild_style(G, "noir", "{prompt}, noir, rain", MOD) is True
    assert await prefs.guild_styles(G) == {
        "gold": "{prompt}, golden hour",
        "noir": "{prompt}, noir, rain",
    }
    assert list(await prefs.guild_styles(G)) == ["gold", "noir"]
    assert await prefs.guild_styles(G + 1) == {}
    assert await prefs.remove_guild_style(G, "noir") is True
    assert await prefs.remove_guild_style(G, "noir") is False
    assert await prefs.guild_styles(G) == {"gold": "{prompt}, golden hour"}


# ---------------------------------------------------------------- task timings


async def test_task_times_keep_a_rolling_history_per_kind(store: Store) -> None:
    kind = TaskKind("poyo", "seedream-4", "2K", 1)
    other = TaskKind("poyo", "seedream-4", "2K", 4)
    assert await store.timings.task_times(kind, 20) == []
    for seconds in range(1, 26):
        await store.timings.record_task_time(kind, float(seconds), keep=20)
    await store.timings.record_task_time(other, 99.5, keep=20)
    # the latest 20, oldest first; the other kind apart
    assert await store.timings.task_times(kind, 20) == [float(s) for s in range(6, 26)]
    assert await store.timings.task_times(kind, 3) == [23.0, 24.0, 25.0]
    assert await store.timings.task_times(other, 20) == [99.5]
    assert await store.timings.task_times(TaskKind("ark", "seedream-4", "2K", 1), 20) == []
