"""The engine end to end with in-test providers: outcomes, refunds, failover, cancel, events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.errors import (
    InsufficientCreditsError,
    JobNotFoundError,
    PermissionDeniedError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
    RequestValidationError,
    ShuttingDownError,
)
from bot.core.request import TaskState, TaskStatus
from bot.core.states import JobState
from bot.jobs.delivery import DeliveryError
from bot.jobs.dispatching import ANNOUNCED_POSITIONS
from bot.jobs.events import (
    JobCancelled,
    JobDelivered,
    JobFailed,
    JobPositionChanged,
    JobQueued,
    JobRunning,
)
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.waiting import MAX_FAILED_POLLS
from bot.providers.base import ModelSpec
from tests.jobs.harness import FAST, Harness, wait_until
from tests.jobs.support import Script, failed, fake_provider, request, running

MakeHarness = Callable[..., Harness]


async def test_task_job_runs_to_done_by_polling(make_harness: MakeHarness, tmp_path: Path) -> None:
    provider = fake_provider(script=Script(statuses=[running(10), running(60)]))
    h = make_harness(provider)
    await h.open()
    job = await h.create(request(count=2))
    done = await h.final(job.id)
    delivered = await h.event(JobDelivered)
    assert done.state is JobState.DONE
    assert (done.charged, done.refunded, done.provider) == (2, 0, "fake")
    assert [i.index for i in done.images if i.delivered] == [0, 1]
    assert len(h.deliverer.posted) == 2
    assert done.result_message_ids == tuple(m for _, _, m in h.deliverer.posted)
    kinds = [type(e) for e in h.sink.events]
    assert kinds[0] is JobQueued
    assert JobRunning in kinds
    assert kinds[-1] is JobDelivered
    progress = [e.progress for e in h.sink.of(JobRunning)]
    assert 60 in progress
    assert (delivered.charged, delivered.refunded) == (2, 0)
    status = await h.engine.quota_status(1, 7, [])
    assert (status.used_today, status.remaining_today) == (2, 8)
    assert not (tmp_path / "images" / job.id).exists()


async def test_synchronous_provider_job(make_harness: MakeHarness) -> None:
    provider = fake_provider("sync", synchronous=True)
    h = make_harness(provider)
    await h.open()
    done = await h.final((await h.create(request(count=3))).id)
    assert (done.state, done.charged, done.task_id) == (JobState.DONE, 3, "sync-task-1")
    assert provider.status_calls == 0


async def test_fewer_images_than_asked_refunds_the_rest(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider(script=Script(images=1)))
    await h.open()
    done = await h.final((await h.create(request(count=3))).id)
    assert (done.state, done.charged, done.refunded) == (JobState.DONE, 1, 2)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 1


async def test_task_failure_refunds_everything(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider(script=Script(statuses=[running(), failed("content_filter")])))
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert (done.state, done.charged, done.error_code) == (JobState.FAILED, 0, "content_filtered")
    event = await h.event(JobFailed)
    assert event.refunded == 2
    assert "content filter" in event.reason
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0
    assert h.deliverer.posted == []


async def test_failover_when_first_provider_is_out_of_credits(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(submit_errors=[InsufficientCreditsError()]))
    second = fake_provider("second")
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.provider, done.tried_providers) == (
        JobState.DONE,
        "second",
        ("first",),
    )
    assert len(first.submitted) == len(second.submitted) == 1


async def test_failover_when_first_provider_is_unavailable(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(submit_errors=[ProviderUnavailableError()]))
    h = make_harness(first, fake_provider("second"))
    await h.open()
    done = await h.final((await h.create()).id)
    assert done.provider == "second"
    assert (
        h.engine.metrics.provider_errors.labels("first", "ProviderUnavailableError")._value.get()
        == 1
    )


async def test_failover_skips_providers_that_cannot_serve(make_harness: MakeHarness) -> None:
    small = ModelSpec(id="fake-1", label="Small", max_count=1)
    first = fake_provider("first", script=Script(submit_errors=[ProviderUnavailableError()]))
    narrow = fake_provider("narrow", spec=small)
    wide = fake_provider("wide")
    h = make_harness(first, narrow, wide)
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert done.provider == "wide"
    assert narrow.submitted == []


async def test_rate_limit_retries_then_fails_over_past_the_bound(make_harness: MakeHarness) -> None:
    limited = [RateLimitedError(retry_after=0.001) for _ in range(3)]
    first = fake_provider("first", script=Script(submit_errors=limited))
    h = make_harness(first, fake_provider("second"))
    await h.open()
    done = await h.final((await h.create()).id)
    assert len(first.submitted) == 3  # 1 + rate_limit_retries
    assert done.provider == "second"


async def test_rate_limit_within_the_bound_stays_on_provider(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(submit_errors=[RateLimitedError()]))
    h = make_harness(first, fake_provider("second"))
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.provider, len(first.submitted)) == ("first", 2)


async def test_rejected_request_does_not_fail_over(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(submit_errors=[RejectedRequestError()]))
    second = fake_provider("second")
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.error_code) == (JobState.FAILED, "rejected_request")
    assert second.submitted == []


async def test_submitted_task_is_never_resubmitted_on_plain_failure(
    make_harness: MakeHarness,
) -> None:
    first = fake_provider("first", script=Script(statuses=[failed("boom", retryable=False)]))
    second = fake_provider("second")
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert done.state is JobState.FAILED
    assert second.submitted == []


async def test_task_failing_with_failover_type_error_moves_on(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(statuses=[failed("overloaded", retryable=True)]))
    second = fake_provider("second")
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.provider, done.tried_providers) == (
        JobState.DONE,
        "second",
        ("first",),
    )
    assert done.task_id == "second-task-1"


async def test_a_status_that_stays_unreadable_fails_over(make_harness: MakeHarness) -> None:
    """A task whose status answers cannot be read is given up after a run of failed polls."""
    first = fake_provider("first", script=Script(hold=running()))
    second = fake_provider("second")

    async def unreadable(task_id: str) -> TaskStatus:
        first.status_calls += 1
        raise ProviderUnavailableError("unreadable answer", provider="first")

    first.status = unreadable  # type: ignore[method-assign]
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.provider, done.tried_providers) == (
        JobState.DONE,
        "second",
        ("first",),
    )
    assert first.status_calls == MAX_FAILED_POLLS
    assert done.charged == 1


async def test_a_few_failed_polls_stay_on_the_provider(make_harness: MakeHarness) -> None:
    first = fake_provider("first")
    second = fake_provider("second")
    real_status = first.status
    failures = MAX_FAILED_POLLS - 1

    async def flaky(task_id: str) -> TaskStatus:
        nonlocal failures
        if failures:
            failures -= 1
            raise ProviderUnavailableError("unreadable answer", provider="first")
        return await real_status(task_id)

    first.status = flaky  # type: ignore[method-assign]
    h = make_harness(first, second)
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.provider, done.tried_providers) == (JobState.DONE, "first", ())
    assert second.submitted == []


async def test_deadline_fails_the_job_without_resubmitting(make_harness: MakeHarness) -> None:
    first = fake_provider("first", script=Script(hold=running()))
    second = fake_provider("second")
    h = make_harness(first, second, runner=RunnerConfig(deadline=0.05, poll_schedule=FAST))
    await h.open()
    done = await h.final((await h.create()).id)
    assert (done.state, done.error_code, done.charged) == (JobState.FAILED, "provider_timeout", 0)
    assert second.submitted == []


async def test_delivery_error_fails_with_refund(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    h.deliverer.fail_with = DeliveryError("Missing permissions.", retryable=False)
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert (done.state, done.error_code, done.charged) == (JobState.FAILED, "delivery", 0)
    assert (await h.event(JobFailed)).reason == "Missing permissions."


async def test_retryable_delivery_error_is_retried(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    h.deliverer.fail_with = DeliveryError(retryable=True)

    async def heal() -> None:
        await h.deliverer.started.wait()
        h.deliverer.fail_with = None

    healer = asyncio.create_task(heal())
    await h.open()
    done = await h.final((await h.create()).id)
    await healer
    assert (done.state, done.charged) == (JobState.DONE, 1)


async def test_cancel_queued_job_refunds_in_full(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    await h.open(start=False)
    job = await h.create(request(count=3))
    assert (await h.engine.quota_status(1, 7, [])).used_today == 3
    with pytest.raises(JobNotFoundError):
        await h.engine.cancel_job(job.id, 999, is_moderator=False)
    cancelled = await h.engine.cancel_job(job.id, 7, is_moderator=False)
    assert (cancelled.state, cancelled.charged, cancelled.refunded) == (JobState.CANCELLED, 0, 3)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0
    assert h.sink.of(JobCancelled)[0].refunded == 3
    assert h.engine.queue_position(job.id) is None


async def test_moderator_may_cancel_but_not_a_started_job(make_harness: MakeHarness) -> None:
    gate = asyncio.Event()
    provider = fake_provider(script=Script(submit_gate=gate))
    h = make_harness(provider)
    await h.open(start=False)
    waiting = await h.create(user=1)
    await h.engine.cancel_job(waiting.id, 42, is_moderator=True)
    await h.engine.start()
    started = await h.create(user=2)
    await provider.submit_started.wait()
    with pytest.raises(PermissionDeniedError):
        await h.engine.cancel_job(started.id, 2, is_moderator=False)
    gate.set()
    assert (await h.final(started.id)).state is JobState.DONE


async def test_create_job_refusals_change_nothing(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    await h.open(start=False)
    with pytest.raises(RequestValidationError):
        await h.create(request(count=9))  # over max_images_per_job
    with pytest.raises(RequestValidationError):
        await h.create(request(aspect_ratio="21:9"))  # no provider offers it
    assert await h.engine.recent_jobs(1, 7) == []
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0


async def test_stop_refuses_new_jobs(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    await h.open()
    await h.engine.stop()
    with pytest.raises(ShuttingDownError):
        await h.create()


async def test_job_lookup_for_owner_only(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    await h.open(start=False)
    job = await h.create()
    assert (await h.engine.get_job_for_user(job.id.upper(), 7)).id == job.id
    with pytest.raises(JobNotFoundError):
        await h.engine.get_job_for_user(job.id, 8)
    assert [j.id for j in await h.engine.recent_jobs(1, 7)] == [job.id]
    await h.engine.record_messages(job.id, card_message_id=123, result_message_ids=[5, 6])
    stored = await h.job(job.id)
    assert (stored.card_message_id, stored.result_message_ids) == (123, (5, 6))
    with pytest.raises(JobNotFoundError):
        await h.engine.record_messages("nope", card_message_id=1)


async def test_sink_errors_never_break_a_job(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())

    async def broken(event: object) -> None:
        raise RuntimeError("sink down")

    h.sink.on_event = broken  # type: ignore[method-assign]
    await h.open()
    assert (await h.final((await h.create()).id)).state is JobState.DONE


async def test_day_rollover_through_the_engine(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    h.clock.now = h.clock.now.replace(hour=23, minute=59)
    await h.open()
    for _ in range(5):
        await h.final((await h.create(request(count=2))).id)
    from bot.core.errors import QuotaExceededError

    with pytest.raises(QuotaExceededError, match="more at 00:00 UTC"):
        await h.create()
    h.clock.advance(minutes=2)
    status = await h.engine.quota_status(1, 7, [])
    assert (status.used_today, status.remaining_today) == (0, 10)
    assert (await h.final((await h.create()).id)).state is JobState.DONE


async def test_unknown_task_state_values_are_confirmed_by_status(make_harness: MakeHarness) -> None:
    # a provider whose status goes queued → succeeded without ever saying running
    statuses = [TaskStatus(task_id="x", state=TaskState.QUEUED)]
    h = make_harness(fake_provider(script=Script(statuses=statuses)))
    await h.open()
    assert (await h.final((await h.create()).id)).state is JobState.DONE


async def test_engine_schedules_round_robin_under_a_provider_limit(
    make_harness: MakeHarness,
) -> None:
    gate = asyncio.Event()
    provider = fake_provider(script=Script(submit_gate=gate))
    h = make_harness(provider, settings_overrides={"provider_concurrency": 1})
    await h.open()
    a1 = await h.create(request("a1"), user=1)
    await provider.submit_started.wait()
    a2 = await h.create(request("a2"), user=1)
    a3 = await h.create(request("a3"), user=1)
    b1 = await h.create(request("b1"), user=2)
    positions = [h.engine.queue_position(j.id) for j in (a1, a2, a3, b1)]
    assert positions == [None, 1, 3, 2]
    queued = {e.job.id: e.position for e in h.sink.of(JobQueued)}
    assert queued == {a1.id: 1, a2.id: 1, a3.id: 2, b1.id: 2}
    gate.set()
    for job in (a1, a2, a3, b1):
        await h.final(job.id)
    assert [r.prompt for r, _ in provider.submitted] == ["a1", "a2", "b1", "a3"]
    moved = [(e.job.id, e.position) for e in h.sink.of(JobPositionChanged)]
    assert (a3.id, 3) in moved  # b1 went ahead of it


async def test_engine_holds_a_members_third_job(make_harness: MakeHarness) -> None:
    gate = asyncio.Event()
    provider = fake_provider(script=Script(submit_gate=gate))
    h = make_harness(provider)
    await h.open()
    jobs = [await h.create(request(f"p{n}"), user=1) for n in range(3)]
    await wait_until(lambda: len(provider.submitted) == 2)
    other = await h.create(request("other"), user=2)
    await wait_until(lambda: len(provider.submitted) == 3)
    assert h.engine.queue_position(jobs[2].id) == 1
    assert h.engine.queue_position(other.id) is None
    gate.set()
    for job in (*jobs, other):
        assert (await h.final(job.id)).state is JobState.DONE


async def test_only_positions_near_the_front_are_announced(make_harness: MakeHarness) -> None:
    gate = asyncio.Event()
    provider = fake_provider(script=Script(submit_gate=gate))
    h = make_harness(
        provider, settings_overrides={"provider_concurrency": 1, "default_daily_quota": 100}
    )
    await h.open()
    first = await h.create(request("first"), user=1000)
    await provider.submit_started.wait()
    waiting = [await h.create(request(f"w{n}"), user=n) for n in range(ANNOUNCED_POSITIONS + 10)]
    gate.set()
    await h.final(first.id)
    await wait_until(lambda: len(provider.submitted) >= 3)
    moved = h.sink.of(JobPositionChanged)
    assert moved, "jobs near the front were told they moved up"
    assert all(e.position <= ANNOUNCED_POSITIONS for e in moved)
    assert {e.job.id for e in moved} <= {j.id for j in waiting[: ANNOUNCED_POSITIONS + 3]}
    for job in waiting:
        await h.final(job.id, timeout=20)
