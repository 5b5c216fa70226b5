"""Stop the engine in every state, start a fresh one on the same file: each job finishes
exactly once (posted once, charged once, submitted again only when nothing could be polled)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from bot.core.request import ResultImage
from bot.core.states import JobState
from bot.providers.downloads import download_images
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import RecordingDeliverer, Script, fake_provider, request, running
from tests.pg_support import BOTH_BACKENDS

MakeHarness = Callable[..., Harness]


@pytest.fixture(params=BOTH_BACKENDS)
def harness_backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return str(request.param)


async def assert_finished_once(
    h: Harness, job_id: str, count: int, *posted: RecordingDeliverer
) -> None:
    done = await h.final(job_id)
    assert (done.state, done.charged, done.refunded) == (JobState.DONE, count, 0)
    indexes = sorted(index for d in posted for jid, index, _ in d.posted if jid == job_id)
    assert indexes == list(range(count))  # every image posted, none twice
    status = await h.engine.quota_status(1, 7, [])
    assert status.used_today == count
    # the images go right after the settlement (a restart in between sweeps them)
    await wait_until(lambda: _gone(h, job_id))


async def _gone(h: Harness, job_id: str) -> bool:
    return not await h.images_kept(job_id)


async def test_resume_queued(make_harness: MakeHarness) -> None:
    provider = fake_provider()
    h = make_harness(provider)
    await h.open(start=False)
    job = await h.create(request(count=2))
    await h.restart()
    await assert_finished_once(h, job.id, 2, h.deliverer)
    assert len(provider.submitted) == 1


async def test_resume_queued_after_dying_mid_submit(make_harness: MakeHarness) -> None:
    provider = fake_provider(script=Script(submit_gate=asyncio.Event()))
    h = make_harness(provider)
    await h.open()
    job = await h.create()
    await provider.submit_started.wait()
    assert (await h.job(job.id)).state is JobState.QUEUED
    provider.script.submit_gate = None
    await h.restart()
    await assert_finished_once(h, job.id, 1, h.deliverer)


async def test_resume_submitted_polls_without_resubmitting(make_harness: MakeHarness) -> None:
    provider = fake_provider(script=Script(status_gate=asyncio.Event()))
    h = make_harness(provider)
    await h.open()
    job = await h.create(request(count=2))
    await provider.status_started.wait()
    assert (await h.job(job.id)).state is JobState.SUBMITTED
    provider.script.status_gate = None
    await h.restart()
    await assert_finished_once(h, job.id, 2, h.deliverer)
    assert len(provider.submitted) == 1


async def test_resume_running_polls_without_resubmitting(make_harness: MakeHarness) -> None:
    provider = fake_provider(script=Script(hold=running(40)))
    h = make_harness(provider)
    await h.open()
    job = await h.create(request(count=3))
    await h.state_is(job.id, JobState.RUNNING)
    provider.script.hold = None
    await h.restart()
    await assert_finished_once(h, job.id, 3, h.deliverer)
    assert len(provider.submitted) == 1


async def test_resume_delivering_before_anything_was_posted(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    first = h.deliverer
    first.gate = asyncio.Event()
    await h.open()
    job = await h.create(request(count=2))
    await first.started.wait()
    assert (await h.job(job.id)).state is JobState.DELIVERING
    await h.restart(deliverer=RecordingDeliverer())
    await assert_finished_once(h, job.id, 2, first, h.deliverer)
    assert first.posted == []


async def test_resume_delivering_posts_only_what_is_left(make_harness: MakeHarness) -> None:
    h = make_harness(fake_provider())
    first = h.deliverer
    first.gate = asyncio.Event()
    first.block_after = 1
    await h.open()
    job = await h.create(request(count=3))
    await wait_until(lambda: len(first.posted) == 1)
    await h.restart(deliverer=RecordingDeliverer())
    await assert_finished_once(h, job.id, 3, first, h.deliverer)
    assert [index for _, index, _ in h.deliverer.posted] == [1, 2]


async def test_resume_synchronous_job_resubmits_once(make_harness: MakeHarness) -> None:
    """A synchronous provider's answer lives only in memory: a job that died after the answer
    but before its images were stored is submitted again, and charged once."""
    provider = fake_provider("sync", synchronous=True)
    gate = asyncio.Event()
    reached = asyncio.Event()

    async def slow_download(
        client: httpx.AsyncClient, images: Sequence[ResultImage], *, max_bytes: int = 0
    ) -> list[bytes]:
        reached.set()
        await gate.wait()
        return await download_images(client, images)

    h = make_harness(provider, downloader=slow_download)
    await h.open()
    job = await h.create(request(count=2))
    await reached.wait()
    assert (await h.job(job.id)).state is JobState.SUBMITTED
    gate.set()
    await h.restart(downloader=None)
    await assert_finished_once(h, job.id, 2, h.deliverer)
    assert len(provider.submitted) == 2


async def test_resume_past_the_deadline_takes_one_last_look(make_harness: MakeHarness) -> None:
    late = fake_provider(script=Script(hold=running()))
    h = make_harness(late)
    await h.open()
    job = await h.create()
    await h.state_is(job.id, JobState.RUNNING)
    await h.close()
    h.clock.advance(hours=1)
    late.script.hold = None  # it finished while we were down
    await h.open()
    await assert_finished_once(h, job.id, 1, h.deliverer)


async def test_resume_past_the_deadline_fails_a_still_running_task(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(fake_provider(script=Script(hold=running())))
    await h.open()
    job = await h.create(request(count=2))
    await h.state_is(job.id, JobState.RUNNING)
    await h.close()
    h.clock.advance(hours=1)
    await h.open()
    done = await h.final(job.id)
    assert (done.state, done.error_code, done.refunded) == (JobState.FAILED, "provider_timeout", 2)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 0


async def test_stop_is_prompt_with_jobs_in_every_state(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    slow = fake_provider(script=Script(hold=running()))
    h = make_harness(slow)
    h.deliverer.gate = asyncio.Event()
    await h.open()
    for user in range(1, 5):
        await h.create(user=user)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await h.engine.stop()
    assert loop.time() - started < 1.0
    unfinished = [j for u in range(1, 5) for j in await h.engine.recent_jobs(1, u)]
    assert all(not j.state.finished for j in unfinished)
