"""Adaptive provider concurrency: growth, back-off, the Retry-After pause and submit pacing,
on a fake clock, and through the engine against the fake provider's limits."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from bot.config import Settings
from bot.core.states import JobState
from bot.jobs.concurrency import INITIAL_LIMIT, STATUS_BURST, STATUS_RATE, ProviderLimits
from bot.metrics import EngineMetrics
from bot.providers.base import SubmitRate
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import request
from tests.providers.fakes import FakeProvider as FakeServer
from tests.providers.fakes import Script

MakeHarness = Callable[..., Harness]


class VirtualTime:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class TimerClock:
    """A clock with a timer queue, as an event loop has: sleepers wake in the order of their
    times, the clock at each one's time; ``stall`` moves the clock on without waking anyone,
    as a blocked loop does, and then every timer that passed fires at that same moment."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), woken))
        await woken

    async def run_until(self, end: float) -> None:
        while self._timers and self._timers[0][0] <= end:
            when, _, woken = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            woken.set_result(None)
            await settle()
        self.now = end

    async def stall(self, seconds: float) -> None:
        self.now += seconds
        overdue = []
        while self._timers and self._timers[0][0] <= self.now:
            overdue.append(heapq.heappop(self._timers)[2])
        for woken in overdue:
            woken.set_result(None)
        await settle()


async def settle() -> None:
    """Let every task that was woken run until it sleeps again or ends."""
    for _ in range(5):
        await asyncio.sleep(0)


def limits(ceiling: int = 64, **kwargs: object) -> tuple[ProviderLimits, VirtualTime]:
    clock = VirtualTime()
    made = ProviderLimits(
        ceiling=ceiling,
        clock=clock,
        sleep=clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )
    return made, clock


def metric(metrics: EngineMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


# ----------------------------------------------------------------- the limit on its own


def test_the_limit_doubles_per_round_of_accepted_submits_while_in_use() -> None:
    made, _ = limits(ceiling=10_000)
    assert made.limit_for("p") == INITIAL_LIMIT
    for _ in range(5):  # five round trips: every task in flight is answered "accepted"
        for _ in range(made.limit_for("p") // 2):
            made.accepted("p", made.limit_for("p"))
    assert made.limit_for("p") == INITIAL_LIMIT * 2**5


def test_an_idle_limit_does_not_grow() -> None:
    made, _ = limits()
    for _ in range(50):
        made.accepted("p", 1)  # one task in flight of 8 allowed
    assert made.limit_for("p") == INITIAL_LIMIT


def test_the_ceiling_and_the_floor_hold() -> None:
    made, _ = limits(ceiling=10)
    for _ in range(100):
        made.accepted("p", made.limit_for("p"))
    assert made.limit_for("p") == 10
    for _ in range(100):
        made.refused("p", 0, None)
    assert made.limit_for("p") == 1


def test_a_refusal_backs_off_to_what_the_provider_held_then_grows_slowly() -> None:
    made, _ = limits(ceiling=1000)
    for _ in range(30):
        made.accepted("p", made.limit_for("p"))
    assert made.limit_for("p") == INITIAL_LIMIT + 60
    made.refused("p", 12, None)  # "too many" while 12 of ours were there
    assert made.limit_for("p") == 12
    for _ in range(5):  # the rest of the same burst: no compounding back-off
        made.refused("p", 14, None)
    assert made.limit_for("p") == 12
    # additive increase now: one more slot per full window of accepted submits
    for _ in range(11):
        made.accepted("p", 12)
    assert made.limit_for("p") == 12
    for _ in range(3):
        made.accepted("p", 12)
    assert made.limit_for("p") == 13


def test_a_burst_of_server_errors_shrinks_the_limit_but_one_does_not() -> None:
    made, clock = limits()
    made.faulted("p")
    clock.now += 30
    made.faulted("p")
    assert made.limit_for("p") == INITIAL_LIMIT
    made.faulted("p")
    made.faulted("p")
    assert made.limit_for("p") < INITIAL_LIMIT


def test_limits_are_per_provider_and_exported(caplog: pytest.LogCaptureFixture) -> None:
    metrics = EngineMetrics()
    made, _ = limits(metrics=metrics)
    caplog.set_level(logging.INFO, "bot.jobs.concurrency")
    for _ in range(8):
        made.accepted("a", made.limit_for("a"))
    assert made.limit_for("b") == INITIAL_LIMIT
    assert metric(metrics, "seedream_provider_concurrency_limit", provider="a") == 24
    assert (
        metric(metrics, "seedream_provider_concurrency_changes_total", provider="a", direction="up")
        == 8
    )
    assert "a: concurrency limit 8 -> 10" in caplog.text  # large changes only
    assert "8 -> 9" not in caplog.text
    made.refused("a", 4, None)
    assert metric(metrics, "seedream_provider_concurrency_limit", provider="a") == 4
    assert "a: concurrency limit 24 -> 4" in caplog.text


async def test_a_retry_after_pauses_the_providers_submits_for_that_long() -> None:
    made, clock = limits()
    made.refused("p", 3, 30.0)
    assert made.paused_for("p") == 30.0
    await made.wait_turn("other")  # another provider is not paused
    assert clock.now == 0
    await made.wait_turn("p")
    assert clock.now == pytest.approx(30.0)
    assert made.paused_for("p") == 0
    await made.wait_turn("p")
    assert clock.now == pytest.approx(30.0)


async def test_submits_are_paced_to_the_documented_rate() -> None:
    made, clock = limits(rates={"kie": SubmitRate(20, 10.0)})
    sent: list[float] = []
    for _ in range(45):
        await made.wait_turn("kie")
        sent.append(clock.now)
    assert sent[:20] == [0.0] * 20
    # never more than 20 in any 10 s window
    for i in range(len(sent) - 20):
        assert sent[i + 20] - sent[i] > 10.0
    assert sent[-1] < 25.0  # and no slower than the window requires
    await made.wait_turn("unpaced")
    assert clock.now == sent[-1]


# ----------------------------------------------------------------- through the engine


@pytest.fixture
async def poyo() -> AsyncIterator[FakeServer]:
    async with FakeServer("poyo", script=Script(finish_after=0.5)) as fake:
        yield fake


async def test_a_burst_is_sent_at_once_where_the_old_fixed_limit_made_waves(
    make_harness: MakeHarness, poyo: FakeServer
) -> None:
    poyo.script.finish_after = 3.0  # all 20 are created well within one task's time
    default = Settings.model_fields["provider_concurrency"].default
    h = make_harness(settings_overrides={"provider_concurrency": default})
    h.providers = [poyo.provider(h.http)]
    await h.open()
    jobs = await asyncio.gather(*(h.create(request(f"p{n}"), user=n) for n in range(20)))
    for job in jobs:
        assert (await h.final(job.id)).state is JobState.DONE
    assert poyo.peak_in_flight == 20
    assert all(status == 200 for _, status in poyo.submits)


async def test_a_provider_refusing_past_its_limit_gets_no_more_and_no_job_fails(
    make_harness: MakeHarness, poyo: FakeServer
) -> None:
    poyo.script.max_in_flight = 3
    metrics = EngineMetrics()
    h = make_harness(settings_overrides={"provider_concurrency": 64})
    limits = h.limits = ProviderLimits(ceiling=64, metrics=metrics)
    # the limit right after each refusal: once the provider stops refusing, accepted submits
    # may grow it again (by design), so the value at the end depends on timing
    after_refusal: list[int] = []
    refuse = limits.refused

    def refused(provider: str, holding: int, retry_after: float | None) -> None:
        refuse(provider, holding, retry_after)
        after_refusal.append(limits.limit_for(provider))

    limits.refused = refused  # type: ignore[method-assign]
    h.providers = [poyo.provider(h.http)]
    await h.open()
    jobs = [await h.create(request(f"p{n}"), user=n) for n in range(12)]
    for job in jobs:
        assert (await h.final(job.id, timeout=20)).state is JobState.DONE
    refused = [status for _, status in poyo.submits if status == 429]
    assert refused, "the limit of 8 was above the provider's 3"
    assert poyo.peak_in_flight == 3
    assert min(after_refusal) <= 3
    assert metric(
        metrics, "seedream_provider_submits_total", provider="poyo", outcome="rate_limited"
    ) == len(refused)
    assert (
        metric(
            metrics,
            "seedream_provider_concurrency_changes_total",
            provider="poyo",
            direction="down",
        )
        >= 1
    )


async def test_a_retry_after_holds_back_the_next_submit_on_the_fake_clock(
    make_harness: MakeHarness, poyo: FakeServer
) -> None:
    poyo.script.max_in_flight = 1
    poyo.script.limit_retry_after = "40"
    poyo.script.finish_after = 1.0
    clock = VirtualTime()
    h = make_harness(settings_overrides={"provider_concurrency": 64})
    h.limits = ProviderLimits(ceiling=64, clock=clock, sleep=clock.sleep)
    h.limits.status_rate = float("inf")  # only the pause sleeps on the clock here
    h.providers = [poyo.provider(h.http)]
    await h.open()
    first = await h.create(request("first"), user=1)
    await wait_until(lambda: len(poyo.submits) == 1)
    second = await h.create(request("second"), user=2)
    for job in (first, second):
        assert (await h.final(job.id, timeout=10)).state is JobState.DONE
    assert [status for _, status in poyo.submits] == [200, 429, 200]
    assert clock.slept == [40.0]  # the second job waited out the pause, then went
    assert h.limits.limit_for("poyo") < INITIAL_LIMIT  # backed off (then grew by one)


async def test_a_documented_submit_rate_is_paced_so_the_provider_refuses_nothing(
    make_harness: MakeHarness,
) -> None:
    script = Script(finish_after=0.2, submit_rate=(3, 0.5))
    async with FakeServer("apikley", script=script) as apikley:
        h = make_harness(settings_overrides={"provider_concurrency": 64})
        h.limits = ProviderLimits(ceiling=64, rates={"apikley": SubmitRate(3, 0.5)})
        h.providers = [apikley.provider(h.http)]
        await h.open()
        jobs = [await h.create(request(f"p{n}"), user=n) for n in range(9)]
        for job in jobs:
            assert (await h.final(job.id, timeout=20)).state is JobState.DONE
        assert [status for _, status in apikley.submits] == [200] * 9
        times = sorted(at for at, _ in apikley.submits)
        assert times[3] - times[0] >= 0.5


async def test_status_requests_beyond_the_poll_budget_are_spread_evenly() -> None:
    made, clock = limits()
    sent: list[float] = []

    async def poll() -> None:
        await made.poll_turn("p")
        sent.append(clock.now)

    # many jobs due at the same moment; the virtual clock moves as each one sleeps
    for _ in range(1000):
        await poll()
    assert sent[: STATUS_BURST + 1] == [0.0] * (STATUS_BURST + 1)
    per_second = [sum(1 for at in sent if s <= at < s + 1) for s in range(int(sent[-1]))]
    assert max(per_second) <= STATUS_RATE + STATUS_BURST
    assert sent[-1] == pytest.approx((1000 - 1 - STATUS_BURST) / STATUS_RATE)
    await made.poll_turn("quiet")  # another provider has its own budget
    assert clock.now == sent[-1]


# the first turn missed is at 2.01 s; the queue moves back by how late it went (3.2 - 2.01)
# less a burst (0.2); a stall shorter than a burst moves nothing
@pytest.mark.parametrize(("stall", "pushed_back"), [(1.2, 0.99), (0.1, 0.0)])
async def test_polls_whose_turn_passed_in_a_loop_stall_are_spread_again(
    stall: float, pushed_back: float
) -> None:
    clock = TimerClock()
    made = ProviderLimits(ceiling=64, clock=clock, sleep=clock.sleep)
    sent: list[float] = []

    async def poll() -> None:
        await made.poll_turn("p")
        sent.append(clock.now)

    polls = [asyncio.create_task(poll()) for _ in range(1000)]  # ten seconds of budget
    await settle()
    await clock.run_until(2.0)
    await clock.stall(stall)  # the loop blocked: 120 turns pass unseen in the long one
    await clock.run_until(20.0)
    await asyncio.gather(*polls)

    assert len(sent) == 1000
    # no second (any window of one second) sees more than the rate and one burst
    busiest = max(bisect.bisect_left(sent, at + 1.0) - i for i, at in enumerate(sent))
    assert busiest <= STATUS_RATE + STATUS_BURST + 1
    # the queue moved back by the stall beyond one burst's worth, and no further
    ideal_last = (1000 - 1 - STATUS_BURST) / STATUS_RATE
    assert sent[-1] == pytest.approx(ideal_last + pushed_back)
