"""The state machine and its guard in SQL: illegal moves raise, racing finishes settle once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.core.states import (
    FINAL_STATES,
    IllegalTransitionError,
    JobState,
    can_transition,
    check_transition,
)
from bot.jobs.events import JobQueued
from bot.jobs.ledger import JobLedger
from tests.jobs.harness import Harness
from tests.jobs.support import fake_provider, request

MakeHarness = Callable[..., Harness]

LEGAL = {
    (JobState.QUEUED, JobState.SUBMITTED),
    (JobState.QUEUED, JobState.FAILED),
    (JobState.QUEUED, JobState.CANCELLED),
    (JobState.SUBMITTED, JobState.SUBMITTED),
    (JobState.SUBMITTED, JobState.RUNNING),
    (JobState.SUBMITTED, JobState.DELIVERING),
    (JobState.SUBMITTED, JobState.FAILED),
    (JobState.RUNNING, JobState.SUBMITTED),
    (JobState.RUNNING, JobState.DELIVERING),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.DELIVERING, JobState.DONE),
    (JobState.DELIVERING, JobState.FAILED),
}


@pytest.mark.parametrize("old", list(JobState))
@pytest.mark.parametrize("new", list(JobState))
def test_transition_table(old: JobState, new: JobState) -> None:
    assert can_transition(old, new) == ((old, new) in LEGAL)
    if (old, new) in LEGAL:
        check_transition("j", old, new)
    else:
        with pytest.raises(IllegalTransitionError, match=f"{old} → {new}"):
            check_transition("j", old, new)


def test_final_states_have_no_way_out() -> None:
    for old in FINAL_STATES:
        assert not any(can_transition(old, new) for new in JobState)


async def test_ledger_refuses_illegal_transitions(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    await h.open(start=False)
    job = await h.create()
    ledger: JobLedger = h.engine._ledger
    with pytest.raises(IllegalTransitionError):
        await ledger.transition(job.id, JobState.DONE)
    with pytest.raises(IllegalTransitionError):
        await ledger.transition(job.id, JobState.RUNNING)
    assert (await h.job(job.id)).state is JobState.QUEUED


async def test_racing_finishes_settle_exactly_once(make_harness: MakeHarness) -> None:
    """A late callback path and a poll path both trying to end one job: one wins."""
    h = make_harness(fake_provider())
    await h.open(start=False)
    job = await h.create(request(count=3))
    ledger: JobLedger = h.engine._ledger
    results = await asyncio.gather(
        *(ledger.finish(job.id, JobState.FAILED, error_code="x") for _ in range(5)),
        ledger.finish(job.id, JobState.CANCELLED),
        return_exceptions=True,
    )
    endings = [r for r in results if not isinstance(r, BaseException)]
    assert len(endings) == 1
    assert all(isinstance(r, IllegalTransitionError) for r in results if r not in endings)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0  # refunded once, not 6x


async def test_stop_lands_a_job_being_admitted(make_harness: MakeHarness) -> None:
    """stop() during create_job: the member gets the job, it stays queued for the next start."""
    h = make_harness(fake_provider())
    gate = asyncio.Event()
    entered = asyncio.Event()
    record = h.sink.on_event

    async def slow_sink(event: object) -> None:
        if isinstance(event, JobQueued):
            entered.set()
            await gate.wait()
        await record(event)  # type: ignore[arg-type]

    h.sink.on_event = slow_sink  # type: ignore[method-assign]
    await h.open()
    creating = asyncio.create_task(h.create())
    await entered.wait()
    stopping = asyncio.create_task(h.engine.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # waits for the admission to land
    gate.set()
    job = await creating
    await stopping
    assert not (await h.job(job.id)).state.finished
    h.sink.on_event = record  # type: ignore[method-assign]
    await h.restart()
    assert (await h.final(job.id)).state is JobState.DONE
