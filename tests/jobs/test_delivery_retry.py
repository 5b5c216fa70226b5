"""Results Discord won't take are kept and retried, with backoff, for the retry window (and
again at every start); only then does the job fail, refunded. Clock and sleep are injected:
a day of retries runs in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.core.retry import windowed_delay
from bot.core.states import JobState
from bot.jobs.delivery import DeliveryError
from bot.jobs.events import JobDelivered, JobDeliveryDelayed, JobFailed
from bot.jobs.job_runner import RunnerConfig
from tests.jobs.harness import FAST, Harness, wait_until
from tests.jobs.support import FakeClock, RecordingDeliverer, fake_provider, request

MakeHarness = Callable[..., Harness]
HOUR = 3600.0
DAY = 24 * HOUR


class ClockSleep:
    """An engine sleep that advances the fake clock instead of waiting; keeps each pause."""

    def __init__(self, clock: FakeClock, hold_after: int | None = None) -> None:
        self.clock = clock
        self.pauses: list[tuple[float, float]] = []  # (seconds since start, pause)
        self.start = clock()
        #: after this many pauses of a second or more (a delivery's, not a poll's), the
        #: next such pause never ends (until the engine stops)
        self.hold_after = hold_after

    async def __call__(self, seconds: float) -> None:
        long = sum(1 for _, pause in self.pauses if pause >= 1)
        if self.hold_after is not None and seconds >= 1 and long >= self.hold_after:
            await asyncio.Event().wait()
        self.pauses.append(((self.clock() - self.start).total_seconds(), seconds))
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


class FailingDeliverer(RecordingDeliverer):
    """Discord down: every delivery fails retryably until ``healthy`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_with = DeliveryError("Discord could not be reached; retrying.", retryable=True)
        self.tries = 0

    async def deliver(self, *args: object, **kwargs: object) -> list[int]:
        self.tries += 1
        return await super().deliver(*args, **kwargs)  # type: ignore[arg-type]


def runner(**changes: float) -> RunnerConfig:
    values: dict[str, float] = {"deadline": 30.0, "retry_backoff": 0.001}
    values.update(changes)
    return RunnerConfig(poll_schedule=FAST, **values)  # type: ignore[arg-type]


def test_retry_delay_schedule() -> None:
    def delay(failures: int, elapsed: float) -> float:
        return windowed_delay(failures, elapsed, backoff=2.0, first_hour_cap=60.0, max_delay=1800.0)

    assert [delay(n, 10) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert delay(500, HOUR - 1) == 60  # capped at a minute for the whole first hour
    assert delay(500, HOUR) == 120  # then the cap doubles every hour
    assert delay(500, 2 * HOUR + 5) == 240
    assert delay(500, 20 * HOUR) == 1800  # and never goes above the ceiling
    assert delay(3, 20 * HOUR) == 8  # the backoff itself still starts small


async def test_a_day_of_failed_deliveries_then_a_refund(make_harness: MakeHarness) -> None:
    clock = FakeClock()
    sleep = ClockSleep(clock)
    deliverer = FailingDeliverer()
    provider = fake_provider("sync", synchronous=True)
    h = make_harness(provider, clock=clock, sleep=sleep, deliverer=deliverer, runner=runner())
    await h.open()
    job = await h.create(request(count=2))
    done = await h.final(job.id, timeout=30)

    assert (done.state, done.error_code, done.charged, done.refunded) == (
        JobState.FAILED,
        "delivery",
        0,
        2,
    )
    assert "24 hours" in (done.error_message or "")
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0  # type: ignore[union-attr]
    await wait_until(lambda: not (h.tmp_path / "images" / job.id).exists())
    # the card was told once, when the first quick attempts ran out
    await h.event(JobFailed)  # (sent after the settlement)
    [delayed] = h.sink.of(JobDeliveryDelayed)
    assert (delayed.retry_until - job.created_at).total_seconds() == pytest.approx(DAY, abs=60)
    kinds = [type(e) for e in h.sink.events]
    assert kinds.index(JobDeliveryDelayed) < kinds.index(JobFailed)

    pauses = sleep.pauses  # a synchronous provider: every pause is a delivery's
    first_hour = [pause for at, pause in pauses if at < HOUR]
    later = [pause for at, pause in pauses if at >= HOUR]
    assert [pause for _, pause in pauses[:3]] == [2.0, 4.0, 8.0]
    assert max(first_hour) == 60  # at most a minute apart in the first hour
    assert len(first_hour) > 55  # ... so about one a minute
    assert max(later) == 1800  # growing after, up to half an hour
    assert later[:-1] == sorted(later[:-1])  # (the last one ends with the window)
    assert deliverer.tries == len(pauses) + 1
    assert sum(pause for _, pause in pauses) == pytest.approx(DAY)  # the whole window


async def test_discord_recovers_after_hours_delivered_and_charged_once(
    make_harness: MakeHarness,
) -> None:
    clock = FakeClock()
    sleep = ClockSleep(clock)
    deliverer = FailingDeliverer()
    h = make_harness(
        fake_provider(), clock=clock, sleep=sleep, deliverer=deliverer, runner=runner()
    )
    await h.open()
    job = await h.create(request(count=3))
    await wait_until(lambda: (clock() - sleep.start).total_seconds() > 3 * HOUR, timeout=10)
    delivering = await h.job(job.id)
    assert (delivering.state, delivering.charged) == (JobState.DELIVERING, None)
    assert len(list((h.tmp_path / "images" / job.id).iterdir())) == 3  # images kept
    deliverer.fail_with = None  # Discord is back
    done = await h.final(job.id, timeout=10)
    assert (done.state, done.charged, done.refunded) == (JobState.DONE, 3, 0)
    assert sorted(index for _, index, _ in deliverer.posted) == [0, 1, 2]
    assert (await h.event(JobDelivered)).charged == 3
    assert (await h.engine.quota_status(1, 7, [])).used_today == 3  # type: ignore[union-attr]


async def test_each_start_tries_again_until_the_window_is_over(make_harness: MakeHarness) -> None:
    clock = FakeClock()
    sleep = ClockSleep(clock, hold_after=3)  # three failures, the card told, then a stop
    h = make_harness(
        fake_provider(),
        clock=clock,
        sleep=sleep,
        deliverer=FailingDeliverer(),
        runner=runner(delivery_retry_window=2 * HOUR),
    )
    await h.open()
    job = await h.create(request(count=2))
    await wait_until(lambda: h.sink.of(JobDeliveryDelayed))
    await h.close()

    # down for an hour (still within the window): the next start delivers
    clock.advance(hours=1)
    healthy = RecordingDeliverer()
    await h.restart(deliverer=healthy)
    done = await h.final(job.id)
    assert (done.state, done.charged) == (JobState.DONE, 2)
    assert [index for _, index, _ in healthy.posted] == [0, 1]

    # a second job, and a stop longer than the window: one more try at start, then a refund
    failing = FailingDeliverer()
    await h.restart(deliverer=failing)
    late = await h.create(request(count=2))
    await wait_until(lambda: failing.tries == 1)
    await h.close()
    clock.advance(hours=3)
    last = FailingDeliverer()
    await h.restart(deliverer=last)
    failed = await h.final(late.id)
    assert (failed.state, failed.error_code, failed.refunded) == (JobState.FAILED, "delivery", 2)
    assert last.tries == 1
    assert "2 hours" in (failed.error_message or "")


async def test_a_channel_that_cannot_be_used_fails_at_once(make_harness: MakeHarness) -> None:
    clock = FakeClock()
    sleep = ClockSleep(clock)
    deliverer = FailingDeliverer()
    deliverer.fail_with = DeliveryError("Missing permissions.", retryable=False)
    h = make_harness(
        fake_provider(), clock=clock, sleep=sleep, deliverer=deliverer, runner=runner()
    )
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.error_message, done.refunded) == (
        JobState.FAILED,
        "Missing permissions.",
        1,
    )
    assert deliverer.tries == 1
    assert not h.sink.of(JobDeliveryDelayed)
