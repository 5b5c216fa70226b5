"""wait_for_task: the schedule, the deadline, transient errors, and callbacks as hints."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import ClassVar

import httpx
import pytest
from pydantic import SecretStr

from bot.core.errors import (
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
)
from bot.core.request import GenerationRequest, ResultImage, TaskError, TaskState, TaskStatus
from bot.jobs.waiting import MAX_FAILED_POLLS, PollSchedule, wait_for_task
from bot.providers.base import Capabilities, Provider, ProviderConfig
from tests.providers.conftest import FAST, MakeFake

Q, R, S, F = TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED


class FakeTime:
    """A virtual clock whose sleep only advances time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted(Provider):
    """A provider whose status() plays a script of statuses or exceptions (the last repeats)."""

    name: ClassVar[str] = "scripted"
    display_name: ClassVar[str] = "Scripted"
    default_base_url: ClassVar[str] = "http://127.0.0.1:9"
    default_model: ClassVar[str] = "m"

    def __init__(self, script: Iterable[TaskStatus | Exception], clock: FakeTime | None = None):
        config = ProviderConfig("scripted", SecretStr("k"), self.default_base_url, "m")
        super().__init__(config=config, client=httpx.AsyncClient())
        items = list(script)
        self._script = itertools.chain(items, itertools.repeat(items[-1]))
        self.polls: list[float] = []
        self._time = clock

    @property
    def capabilities(self) -> Capabilities:
        raise NotImplementedError

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        raise NotImplementedError

    async def status(self, task_id: str) -> TaskStatus:
        self.polls.append(self._time.now if self._time else asyncio.get_running_loop().time())
        item = next(self._script)
        if isinstance(item, Exception):
            raise item
        return item


def st(state: TaskState, progress: int | None = None, images: int = 0) -> TaskStatus:
    error = TaskError(code="failed", message="no") if state is F else None
    urls = tuple(ResultImage(url=f"https://r/{i}.png") for i in range(images))
    return TaskStatus(task_id="t", state=state, progress=progress, images=urls, error=error)


def polls_for(seconds: float) -> int:
    """Status requests needed to see a task that finishes after ``seconds``."""
    elapsed = 0.0
    for count, delay in enumerate(PollSchedule().delays(), start=1):
        elapsed += delay
        if elapsed >= seconds:
            return count
    raise AssertionError("unreachable")


def test_schedule_shape() -> None:
    delays = list(itertools.islice(PollSchedule().delays(), 40))
    assert delays[0] == 2.0
    assert all(2.0 <= d <= 3.0 for d in delays[1:3])
    assert delays == sorted(delays)  # only ever stretches
    assert max(delays) == 10.0
    assert delays[-1] == 10.0


def test_poll_budget_for_typical_tasks() -> None:
    assert polls_for(30) <= 8
    assert polls_for(15) <= 6
    assert polls_for(120) <= 17
    assert polls_for(900) <= 95


async def test_returns_the_terminal_status_and_reports_changes() -> None:
    time = FakeTime()
    statuses = [st(Q), st(Q), st(R, 10), st(R, 10), st(R, 60), st(S, 100, images=2)]
    provider = Scripted(statuses, time)
    updates: list[TaskStatus] = []

    async def on_update(status: TaskStatus) -> None:
        updates.append(status)

    final = await wait_for_task(
        provider, "t", on_update=on_update, sleep=time.sleep, clock=time.clock
    )
    assert final.state is S
    assert len(final.images) == 2
    assert [(u.state, u.progress) for u in updates] == [(Q, None), (R, 10), (R, 60), (S, 100)]
    assert time.sleeps[:3] == [2.0, 2.0, 2.5]
    assert len(provider.polls) == 6


async def test_failed_is_returned_not_raised() -> None:
    time = FakeTime()
    final = await wait_for_task(
        Scripted([st(R), st(F)], time), "t", sleep=time.sleep, clock=time.clock
    )
    assert final.state is F
    assert final.error is not None


async def test_deadline_raises_after_a_last_poll() -> None:
    time = FakeTime()
    provider = Scripted([st(R)], time)
    with pytest.raises(ProviderTimeoutError, match="60 s"):
        await wait_for_task(provider, "t", deadline=60, sleep=time.sleep, clock=time.clock)
    assert time.now == pytest.approx(60)
    assert provider.polls[-1] == pytest.approx(60)  # one last look at the deadline
    assert len(provider.polls) == polls_for(60)


async def test_transient_errors_do_not_end_the_wait() -> None:
    time = FakeTime()
    script: list[TaskStatus | Exception] = [
        ProviderUnavailableError(),
        RateLimitedError(retry_after=30.0),
        ProviderUnavailableError(),
        st(S, images=1),
    ]
    provider = Scripted(script, time)
    final = await wait_for_task(provider, "t", sleep=time.sleep, clock=time.clock)
    assert final.state is S
    assert 30.0 in time.sleeps  # the Retry-After stretched the next pause


async def test_transient_errors_until_the_deadline_time_out() -> None:
    time = FakeTime()
    provider = Scripted([ProviderUnavailableError()], time)
    with pytest.raises(ProviderTimeoutError):
        await wait_for_task(provider, "t", deadline=20, sleep=time.sleep, clock=time.clock)
    assert len(provider.polls) < MAX_FAILED_POLLS  # the deadline came first


async def test_a_run_of_failed_polls_gives_the_provider_up() -> None:
    """A status endpoint that stays broken ends the wait, so the job can fail over."""
    time = FakeTime()
    provider = Scripted([ProviderUnavailableError()], time)
    with pytest.raises(ProviderUnavailableError):
        await wait_for_task(provider, "t", deadline=900, sleep=time.sleep, clock=time.clock)
    assert len(provider.polls) == MAX_FAILED_POLLS


async def test_other_errors_end_the_wait() -> None:
    time = FakeTime()
    with pytest.raises(RejectedRequestError):
        await wait_for_task(
            Scripted([RejectedRequestError()], time), "t", sleep=time.sleep, clock=time.clock
        )


SLOW = PollSchedule(first=30.0, interval=30.0)


async def test_wake_confirms_through_status_and_returns_at_once() -> None:
    provider = Scripted([st(S, images=1)])
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, wake.set)
    started = loop.time()
    final = await wait_for_task(provider, "t", wake=wake, schedule=SLOW, deadline=10)
    assert final.state is S
    assert loop.time() - started < 1
    assert len(provider.polls) == 1
    assert not wake.is_set()  # consumed


async def test_forged_finished_callback_does_not_end_the_wait() -> None:
    """The callback said "finished", but status() says running: keep waiting."""
    provider = Scripted([st(R)])
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, wake.set)
    started = loop.time()
    with pytest.raises(ProviderTimeoutError):
        await wait_for_task(provider, "t", wake=wake, schedule=SLOW, deadline=0.3)
    assert 0.3 <= loop.time() - started < 1.5
    assert len(provider.polls) == 2  # the confirmation, then the last look at the deadline


async def test_wake_already_set_polls_immediately() -> None:
    provider = Scripted([st(S, images=1)])
    wake = asyncio.Event()
    wake.set()
    final = await asyncio.wait_for(wait_for_task(provider, "t", wake=wake, schedule=SLOW), 1)
    assert final.state is S


async def test_cancelling_the_wait_leaves_no_tasks_behind() -> None:
    provider = Scripted([st(R)])
    wake = asyncio.Event()
    waiter = asyncio.create_task(wait_for_task(provider, "t", wake=wake, schedule=SLOW))
    await asyncio.sleep(0.01)
    before = len(asyncio.all_tasks())
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) < before


async def test_forged_callback_against_a_real_fake(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    """A forged callback body for a task still running at the provider does not finish it."""
    fake = await make_fake("poyo", states=("queued", "running"))
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"))
    forged = (
        b'{"code": 200, "data": {"task_id": "%s", "status": "finished"}}' % task.task_id.encode()
    )
    assert provider.parse_callback(forged).state is S  # what the body claims...
    wake = asyncio.Event()
    wake.set()
    # virtual time: the number of polls before the deadline does not depend on the load
    time = FakeTime()
    with pytest.raises(ProviderTimeoutError):
        await wait_for_task(
            provider,
            task.task_id,
            wake=wake,
            schedule=FAST,
            deadline=0.005,
            sleep=time.sleep,
            clock=time.clock,
        )
    assert fake.count("status") >= 2  # ...was checked, and the wait went on


class SlowScripted(Scripted):
    """Each status answer takes ``latency`` seconds of virtual time."""

    def __init__(self, script: Iterable[TaskStatus], clock: FakeTime, latency: float) -> None:
        super().__init__(script, clock)
        self._latency = latency

    async def status(self, task_id: str) -> TaskStatus:
        result = await super().status(task_id)
        assert self._time is not None
        self._time.now += self._latency
        return result


async def test_slow_status_answers_do_not_push_later_polls_back() -> None:
    time = FakeTime()
    provider = SlowScripted([st(R)] * 7 + [st(S, images=1)], time, latency=0.4)
    await wait_for_task(provider, "t", clock=time.clock, sleep=time.sleep)
    # the schedule's own times (2, 4, 6.5, 9.6, ...), not each shifted by the latency
    expected = [2.0, 4.0, 6.5, 9.625, 13.53, 18.42, 24.52, 32.15]
    assert provider.polls == pytest.approx(expected, abs=0.01)


class Hanging(Scripted):
    """A provider whose status call never answers."""

    async def status(self, task_id: str) -> TaskStatus:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_status_call_hanging_at_the_deadline_is_abandoned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.jobs.waiting.STATUS_GRACE", 0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProviderTimeoutError):
        await wait_for_task(Hanging([st(R)]), "t", deadline=0.2, schedule=FAST)
    assert loop.time() - started < 1.0
