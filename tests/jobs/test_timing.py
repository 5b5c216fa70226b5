"""Learned timing: the history, and polls placed around the expected finish (on a fake clock).
The estimate on the card and in /status: ``tests/e2e/test_eta.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from pydantic import SecretStr

from bot.core.request import GenerationRequest, ResultImage, TaskKind, TaskState, TaskStatus
from bot.jobs.timing import ExpectedSchedule, TaskTimings, expectation, task_kind
from bot.jobs.waiting import DEFAULT_SCHEDULE, PollTrace, wait_for_task
from bot.providers.base import Capabilities, Provider, ProviderConfig
from bot.storage.sqlite.store import SqliteStore


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class FinishesAt(Provider):
    """A provider whose task runs until ``finish`` s of virtual time, then succeeds."""

    name: ClassVar[str] = "timed"
    display_name: ClassVar[str] = "Timed"
    default_base_url: ClassVar[str] = "http://127.0.0.1:9"
    default_model: ClassVar[str] = "m"

    def __init__(self, finish: float, time: VirtualTime) -> None:
        config = ProviderConfig("timed", SecretStr("k"), self.default_base_url, "m")
        super().__init__(config=config, client=httpx.AsyncClient())
        self.finish = finish
        self.time = time
        self.polls: list[float] = []

    @property
    def capabilities(self) -> Capabilities:
        raise NotImplementedError

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        raise NotImplementedError

    async def status(self, task_id: str) -> TaskStatus:
        self.polls.append(self.time.now)
        if self.time.now < self.finish:
            return TaskStatus(task_id=task_id, state=TaskState.RUNNING)
        image = (ResultImage(url="https://r/0.png"),)
        return TaskStatus(task_id=task_id, state=TaskState.SUCCEEDED, images=image)


async def waited(finish: float, schedule: object = DEFAULT_SCHEDULE) -> tuple[FinishesAt, float]:
    time = VirtualTime()
    provider = FinishesAt(finish, time)
    trace = PollTrace()
    await wait_for_task(
        provider,
        "t",
        schedule=schedule,  # type: ignore[arg-type]
        sleep=time.sleep,
        clock=time.clock,
        trace=trace,
    )
    assert trace.seconds is not None
    return provider, trace.seconds


async def test_with_history_a_30_s_task_takes_few_polls_and_is_seen_at_once() -> None:
    default, _ = await waited(30.0)
    history = expectation([29.9, 30.0, 30.1] * 6 + [30.0, 30.05])
    assert history is not None
    assert history.samples == 20
    learned, recorded = await waited(30.0, ExpectedSchedule(history))
    assert len(default.polls) == 8
    assert len(learned.polls) <= 5
    # none while the task surely runs, then close together around its finish
    assert learned.polls[0] >= 20.0
    assert learned.polls[-1] - 30.0 <= 0.31
    assert abs(recorded - 30.0) <= 0.31


async def test_a_task_faster_than_ever_is_still_caught_and_learned() -> None:
    history = expectation([20.0] * 10)
    assert history is not None
    provider, recorded = await waited(12.0, ExpectedSchedule(history))
    assert provider.polls[0] == 15.0  # the early look catches it
    assert recorded == 15.0  # the history moves towards the truth...
    history = expectation([20.0] * 9 + [recorded])
    assert history is not None
    provider, recorded = await waited(12.0, ExpectedSchedule(history))
    assert provider.polls[0] < 12.0
    assert abs(recorded - 12.0) <= 2.0  # ...and gets there
    provider, _ = await waited(40.0, ExpectedSchedule(history))
    gaps = [b - a for a, b in zip(provider.polls, provider.polls[1:], strict=False)]
    assert gaps[-1] > gaps[1]  # later than expected: the polls stretch out again


def test_a_resumed_wait_skips_the_polls_already_past() -> None:
    history = expectation([10.0] * 5)
    assert history is not None
    fresh = ExpectedSchedule(history)
    resumed = ExpectedSchedule(history, elapsed=9.0)
    assert next(resumed.delays()) == pytest.approx(10.0 - 2 * fresh.step - 9.0)
    assert next(fresh.delays()) == 7.5


def test_the_kind_names_provider_model_resolution_and_count() -> None:
    request = GenerationRequest(prompt="x", resolution="2K", count=2)
    assert task_kind("poyo", "seedream-4", request) == TaskKind("poyo", "seedream-4", "2K", 2)
    sized = GenerationRequest(prompt="x", width=2048, height=1152)
    assert task_kind("ark", "m", sized).resolution == "2048x1152"
    assert task_kind("ark", "m", GenerationRequest(prompt="x")).resolution == "default"


async def test_the_history_survives_a_restart_and_needs_three_tasks(tmp_path: Path) -> None:
    kind = TaskKind("poyo", "seedream-4", "2K", 1)
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    timings = TaskTimings(store.timings)
    await timings.record(kind, 10.0)
    await timings.record(kind, 12.0)
    assert await timings.expected(kind) is None
    await timings.record(kind, 11.0)
    await store.close()
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    found = await TaskTimings(store.timings).expected(kind)
    await store.close()
    assert found is not None
    assert (found.typical, found.fastest, found.slowest) == (11.0, 10.0, 12.0)


def test_the_trace_takes_the_middle_of_a_narrow_gap_and_the_end_of_a_wide_one() -> None:
    assert PollTrace(last_unfinished=29.8, finished=30.1).seconds == pytest.approx(29.95)
    assert PollTrace(last_unfinished=7.5, finished=9.9).seconds == 9.9
    assert PollTrace(last_unfinished=29.8, finished=30.1, woken=True).seconds == 30.1
    assert PollTrace(finished=15.0).seconds == 15.0
    assert PollTrace(last_unfinished=3.0).seconds is None
