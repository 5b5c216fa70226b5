"""An unreliable provider: 5xx answers, 429 bursts with Retry-After, timeouts, a task that never
finishes. Every job must end, in time, either delivered or failed with its images refunded and a
clear reason on its card.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.harness import PROVIDER_KEY, World, fast_engine, job_id_in, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import StoredMessage
from tests.providers.fakes import FakeProvider, Script
from tests.resilience.support import accounts, query, result_messages

#: how long a member may wait for a task before the job gives up (the test's deadline)
DEADLINE = 2.0
#: the provider HTTP client's timeout; a "hung" answer takes longer than this
HTTP_TIMEOUT = 0.3
HANG = 1.0
#: after the deadline, one last status call may still be in flight (three attempts)
GRACE = 3 * HTTP_TIMEOUT + 1.0
NEVER = "never finishes"


@dataclass
class FlakyProvider(FakeProvider):
    """A fake provider that fails at random (seeded per route) and on cue.

    ``error_rate`` of all answers (submit, status, images) are a 500, ``hang_rate`` of them come
    after ``HANG`` seconds (the bot's client gives up first), ``hang_next(route)`` hangs the
    next answer on a route, and a task whose prompt contains ``NEVER`` never finishes.
    """

    error_rate: float = 0.0
    hang_rate: float = 0.0
    seed: int = 30
    injected: Counter[str] = field(default_factory=Counter)
    times: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        # One generator per route: the n-th answer of a route gets the same roll however the
        # event loop interleaves the routes, so every run injects the same faults.
        self._rngs: dict[str, random.Random] = {}
        self._hangs: Counter[str] = Counter()

    def hang_next(self, route: str, times: int = 1) -> None:
        self._hangs[route] += times

    async def _fault(self, route: str) -> str | None:
        self.times.setdefault(route, []).append(asyncio.get_running_loop().time())
        rng = self._rngs.setdefault(route, random.Random(f"{self.seed}-{route}"))
        roll = rng.random()
        if self._hangs[route] > 0 or roll < self.hang_rate:
            self._hangs[route] = max(0, self._hangs[route] - 1)
            self.injected[f"{route} timeout"] += 1
            await asyncio.sleep(HANG)
            return None
        if roll < self.hang_rate + self.error_rate:
            self.injected[f"{route} 5xx"] += 1
            return "server_error"
        return None

    async def _answer(self, request: web.Request, route: str, normal: Any) -> web.StreamResponse:
        if await self._fault(route) == "server_error":
            await self._record(request, route)
            return self._error("server_error")
        return await super()._answer(request, route, normal)

    async def _image(self, request: web.Request) -> web.StreamResponse:
        if await self._fault("image") == "server_error":
            await self._record(request, "image")
            return web.Response(status=503, text="upstream failed")
        return await super()._image(request)

    def _create(self, body: Any) -> Any:
        answer = super()._create(body)
        task = list(self.tasks.values())[-1]
        if NEVER in str(task.body):
            task.forced = "running"  # reports "running" forever; no callback, no finish
        return answer


@pytest.fixture
async def flaky(tmp_path: Path) -> AsyncIterator[World]:
    """The world, with a flaky PoYo whose healthy tasks finish 0.2 s after submission."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FlakyProvider("poyo", api_key=PROVIDER_KEY, script=Script(finish_after=0.2)) as provider,
    ):
        settings = make_settings(
            tmp_path, default_daily_quota=200, max_jobs_per_user=30, provider_concurrency=30
        )
        yield World(discord=discord, provider=provider, settings=settings)
        assert not discord.unhandled, discord.unhandled


def running_flaky(world: World, deadline: float = DEADLINE) -> Any:
    return world.running(
        engine_options=fast_engine(deadline=deadline, delivery_backoff=0.01),
        http_timeout=HTTP_TIMEOUT,
    )


async def imagine(world: World, prompt: str, count: int = 1) -> str:
    handle = await world.discord.slash("imagine", options={"prompt": prompt, "count": count})
    return job_id_in((await handle.followup(0, timeout=10)).content)


def db_path(world: World) -> Path:
    return world.settings.database_path


async def all_final(world: World, jobs: list[str], timeout: float) -> list[dict[str, Any]]:
    """Wait until every job is done or failed; their rows."""

    def final() -> list[dict[str, Any]] | None:
        rows = query(db_path(world), "SELECT * FROM jobs")
        mine = [row for row in rows if row["id"] in jobs]
        finished = len(mine) == len(jobs) and all(
            row["state"] in ("done", "failed") for row in mine
        )
        return mine if finished else None

    try:
        rows: list[dict[str, Any]] = await world.wait(final, timeout)
    except TimeoutError:
        states = Counter(row["state"] for row in query(db_path(world), "SELECT state FROM jobs"))
        raise AssertionError(f"jobs still unfinished after {timeout} s: {states}") from None
    return rows


def failed_card(world: World, job_id: str) -> StoredMessage | None:
    """The job's card once it shows the failure."""
    card = world.card(job_id)
    return card if card is not None and "Failed" in card.embeds[0]["title"] else None


def elapsed(row: dict[str, Any], start: str = "created_at") -> float:
    begin = datetime.fromisoformat(row[start])
    return (datetime.fromisoformat(row["finished_at"]) - begin).total_seconds()


async def check_outcomes(world: World, rows: list[dict[str, Any]]) -> Counter[str]:
    """Done jobs delivered what they were charged; failed ones refunded, with a clear card."""
    ledger = accounts(db_path(world))
    results = result_messages(world.discord)
    outcomes: Counter[str] = Counter()
    for row in rows:
        job_id, reserved = row["id"], row["reserved_daily"] + row["reserved_bonus"]
        if row["state"] == "done":
            [message] = results[job_id]
            assert row["charged"] == ledger.delivered[job_id] == len(message.attachments) >= 1
            outcomes["done"] += 1
            continue
        assert row["charged"] == 0, row
        assert job_id not in results, f"failed job {job_id} has images posted"
        card = await world.wait(functools.partial(failed_card, world, job_id), 5)
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert fields["Why"] == row["error_message"]
        assert len(fields["Why"]) > 10, fields
        assert "Traceback" not in fields["Why"]
        assert "Error" not in fields["Why"]  # no exception class names
        assert fields["Refunded"] == (f"{reserved} image" + ("s" if reserved != 1 else ""))
        assert card.find_component(f"sd:cancel:{job_id}") is None
        outcomes[row["error_code"] or "?"] += 1
    assert ledger.daily_used == ledger.charged_by_member
    return outcomes


async def test_twenty_percent_5xx_bursts_of_429_and_timeouts(
    flaky: World, caplog: pytest.LogCaptureFixture
) -> None:
    provider = flaky.provider
    assert isinstance(provider, FlakyProvider)
    async with asyncio.timeout(40), running_flaky(flaky):
        jobs = [await imagine(flaky, f"this one {NEVER}")]  # submitted before the noise starts
        await flaky.wait(lambda: provider.count("submit") == 1)
        provider.error_rate, provider.hang_rate = 0.2, 0.05
        provider.fail_next("submit", "rate_limited", times=2, retry_after="0.1")
        provider.fail_next("status", "rate_limited", times=4, retry_after="0.05")
        jobs += [await imagine(flaky, f"job {n}", count=1 + n % 3) for n in range(24)]
        rows = await all_final(flaky, jobs, timeout=DEADLINE + GRACE + 10)
        outcomes = await check_outcomes(flaky, rows)

    assert sum(outcomes.values()) == len(jobs)
    injected = provider.injected
    # a failure needs a fault on the submit, or on every download attempt of the job's images
    assert set(outcomes) <= {"done", "provider_unavailable", "provider_timeout"}, outcomes
    assert outcomes["provider_timeout"] == 1  # the one that never finishes
    causes = injected["submit 5xx"] + injected["submit timeout"]
    causes += (injected["image 5xx"] + injected["image timeout"]) // 3
    assert outcomes["provider_unavailable"] <= causes, (outcomes, injected)
    assert outcomes["done"] >= 8, outcomes
    # every kind of fault really happened
    for kind in ("submit 5xx", "status 5xx", "image 5xx"):
        assert injected[kind], injected
    assert sum(n for kind, n in injected.items() if kind.endswith("timeout")), injected
    never = next(row for row in rows if "never" in row["request"])
    assert never["state"] == "failed"
    assert "did not finish" in never["error_message"]
    for row in rows:  # nobody waited past the deadline (plus one last status call)
        assert row["submitted_at"] is None or elapsed(row, "submitted_at") <= DEADLINE + GRACE
    # provider trouble is expected: warnings, never an error (no worker crashed); aiohttp's
    # errors are the fake's server failing to answer a client that gave up
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r.getMessage() for r in errors if not r.name.startswith("aiohttp")]


async def test_a_task_that_never_finishes_fails_at_its_deadline_and_refunds(
    flaky: World,
) -> None:
    async with asyncio.timeout(20), running_flaky(flaky, deadline=1.0):
        job_id = await imagine(flaky, f"please {NEVER}", count=3)
        [row] = await all_final(flaky, [job_id], timeout=1.0 + GRACE + 3)
        assert row["state"] == "failed"
        assert row["error_code"] == "provider_timeout"
        assert 1.0 <= elapsed(row, "submitted_at") <= 1.0 + GRACE
        outcomes = await check_outcomes(flaky, [row])
        assert outcomes == Counter({"provider_timeout": 1})
        status = await flaky.discord.slash("status")
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Left today"] == "200 of 200"


async def test_a_retry_after_longer_than_the_deadline_does_not_hold_the_job(
    flaky: World,
) -> None:
    flaky.provider.fail_next("status", "rate_limited", times=100, retry_after="60")
    async with asyncio.timeout(20), running_flaky(flaky, deadline=1.0):
        job_id = await imagine(flaky, "slow provider")
        [row] = await all_final(flaky, [job_id], timeout=1.0 + GRACE + 3)
        assert row["state"] == "failed"
        assert elapsed(row, "submitted_at") <= 1.0 + GRACE
        await check_outcomes(flaky, [row])


async def test_429_bursts_are_retried_after_their_retry_after(flaky: World) -> None:
    provider = flaky.provider
    assert isinstance(provider, FlakyProvider)
    provider.fail_next("submit", "rate_limited", times=2, retry_after="0.15")
    async with asyncio.timeout(20), running_flaky(flaky):
        job_id = await imagine(flaky, "patience")
        [row] = await all_final(flaky, [job_id], timeout=10)
        assert row["state"] == "done"
        await check_outcomes(flaky, [row])
        submits = provider.times["submit"]
        assert len(submits) == 3
        # RunnerConfig.max_retry_wait (0.2 s here) caps the wait; 0.15 s is honoured
        assert all(b - a >= 0.14 for a, b in itertools.pairwise(submits)), submits

        # a burst longer than the retries: the job fails over (to nobody) and is refunded
        provider.fail_next("submit", "rate_limited", times=3, retry_after="0.05")
        job_id = await imagine(flaky, "too busy")
        [row] = await all_final(flaky, [job_id], timeout=10)
        assert row["state"] == "failed"
        assert "rate limit" in row["error_message"]
        await check_outcomes(flaky, [row])


@pytest.mark.parametrize(
    ("route", "ends"),
    [
        ("status", "done"),  # a poll that times out is just polled again
        ("image", "done"),  # a download that times out is retried
        ("submit", "failed"),  # the task may exist: never submitted twice, refunded
    ],
)
async def test_one_timeout(flaky: World, route: str, ends: str) -> None:
    provider = flaky.provider
    assert isinstance(provider, FlakyProvider)
    provider.hang_next(route)
    async with asyncio.timeout(20), running_flaky(flaky):
        job_id = await imagine(flaky, f"timeout on {route}", count=2)
        [row] = await all_final(flaky, [job_id], timeout=10)
        assert row["state"] == ends, row
        await check_outcomes(flaky, [row])
        assert len(provider.times["submit"]) == 1  # asked once, however it went
        if ends == "failed":
            assert "did not answer in time" in row["error_message"]
