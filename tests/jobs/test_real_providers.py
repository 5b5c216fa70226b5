"""Jobs through the real PoYo (task-based, callbacks) and APIYI (synchronous) adapters,
against the local fake provider servers, with the web server taking PoYo's callbacks."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.core.states import JobState
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.waiting import PollSchedule
from bot.web.server import WebServer
from tests.jobs.harness import FAST, Harness
from tests.jobs.support import request
from tests.providers.fakes import FakeProvider as FakeServer

MakeHarness = Callable[..., Harness]
#: so slow that only a callback can finish a job within the test
SLOW = PollSchedule(first=60, interval=60, growth=1.0, max_interval=60)


@pytest.fixture
async def poyo() -> AsyncIterator[FakeServer]:
    async with FakeServer("poyo") as fake:
        yield fake


@pytest.fixture
async def apiyi() -> AsyncIterator[FakeServer]:
    async with FakeServer("apiyi") as fake:
        yield fake


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_poyo_job_by_polling(make_harness: MakeHarness, poyo: FakeServer) -> None:
    h = make_harness()
    h.providers = [poyo.provider(h.http)]
    await h.open()
    job = await h.create(request(count=2))
    done = await h.final(job.id)
    assert (done.state, done.provider, done.charged) == (JobState.DONE, "poyo", 2)
    assert done.task_id in poyo.tasks
    assert poyo.count("submit") == 1
    assert poyo.last("submit").body.get("callback_url") is None  # no public URL: polling only
    assert [i.content_type for i in done.images] == ["image/png", "image/png"]


async def test_poyo_job_by_callback(
    make_harness: MakeHarness, poyo: FakeServer, tmp_path: Path
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    poyo.script.finish_after = 0.05
    h = make_harness(
        settings_overrides={"public_url": public},
        runner=RunnerConfig(deadline=600, public_url=public, poll_schedule=SLOW),
    )
    h.providers = [poyo.provider(h.http)]
    engine = await h.open()
    assert h.db is not None
    server = WebServer(
        engine=engine, db=h.store, discord_connected=lambda: True, host="127.0.0.1", port=port
    )
    await server.start()
    try:
        job = await h.create(request(count=2))
        done = await h.final(job.id, timeout=10)
        assert (done.state, done.charged) == (JobState.DONE, 2)
        ((url, status),) = poyo.callbacks_sent
        assert url.startswith(f"{public}/callbacks/poyo/")
        assert status == 200
        # PoYo retries deliveries: a duplicate changes nothing
        assert await poyo.post_callback(url, poyo.callback_body(done.task_id or "")) == 200
        assert (await h.job(job.id)).charged == 2
        assert len(h.deliverer.posted) == 2
    finally:
        await server.stop()


async def test_forged_poyo_callback_does_not_finish_a_running_job(
    make_harness: MakeHarness, poyo: FakeServer
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    poyo.script.finish_after = 3600  # still running for the whole test
    h = make_harness(
        settings_overrides={"public_url": public},
        runner=RunnerConfig(deadline=600, public_url=public, poll_schedule=SLOW),
    )
    h.providers = [poyo.provider(h.http)]
    engine = await h.open()
    assert h.db is not None
    server = WebServer(
        engine=engine, db=h.store, discord_connected=lambda: True, host="127.0.0.1", port=port
    )
    await server.start()
    try:
        job = await h.create()
        await h.state_is(job.id, JobState.SUBMITTED)
        task_id = (await h.job(job.id)).task_id or ""
        url = poyo.last("submit").body["callback_url"]
        polls = poyo.count("status")
        assert await poyo.post_callback(url, poyo.callback_body(task_id, "succeeded")) == 200
        await h.state_is(job.id, JobState.RUNNING)  # confirmed with the provider: running
        assert poyo.count("status") == polls + 1
        assert h.deliverer.posted == []
    finally:
        await server.stop()


async def test_apiyi_synchronous_job(make_harness: MakeHarness, apiyi: FakeServer) -> None:
    h = make_harness()
    h.providers = [apiyi.provider(h.http)]
    await h.open()
    done = await h.final((await h.create(request(count=3))).id)
    assert (done.state, done.provider, done.charged) == (JobState.DONE, "apiyi", 3)
    assert apiyi.count("submit") == 1


async def test_poyo_out_of_credits_fails_over_to_apiyi(
    make_harness: MakeHarness, poyo: FakeServer, apiyi: FakeServer
) -> None:
    poyo.fail_next("submit", "no_credits")
    h = make_harness()
    h.providers = [poyo.provider(h.http), apiyi.provider(h.http)]
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert (done.state, done.provider, done.tried_providers) == (JobState.DONE, "apiyi", ("poyo",))
    assert done.charged == 2


async def test_poyo_unavailable_fails_over_to_apiyi(
    make_harness: MakeHarness, poyo: FakeServer, apiyi: FakeServer
) -> None:
    poyo.fail_next("submit", "unavailable", times=10)
    h = make_harness()
    h.providers = [poyo.provider(h.http), apiyi.provider(h.http)]
    await h.open()
    done = await h.final((await h.create()).id, timeout=10)
    assert (done.state, done.provider) == (JobState.DONE, "apiyi")


async def test_poyo_fewer_images_partial_refund(
    make_harness: MakeHarness, poyo: FakeServer
) -> None:
    poyo.script.images = 1
    h = make_harness()
    h.providers = [poyo.provider(h.http)]
    await h.open()
    done = await h.final((await h.create(request(count=3))).id)
    assert (done.state, done.charged, done.refunded) == (JobState.DONE, 1, 2)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 1


async def test_poyo_task_failure_refunds_and_is_not_resubmitted(
    make_harness: MakeHarness, poyo: FakeServer, apiyi: FakeServer
) -> None:
    poyo.script.fail = "The prompt violates our content policy"
    h = make_harness()
    h.providers = [poyo.provider(h.http), apiyi.provider(h.http)]
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert (done.state, done.charged, done.refunded) == (JobState.FAILED, 0, 2)
    assert apiyi.count("submit") == 0


@pytest.mark.parametrize(
    "failure", ["Insufficient credits on this account", "Internal server error"]
)
async def test_a_task_failed_by_the_provider_itself_moves_to_the_next_provider(
    make_harness: MakeHarness, poyo: FakeServer, apiyi: FakeServer, failure: str
) -> None:
    poyo.script.fail = failure
    h = make_harness()
    h.providers = [poyo.provider(h.http), apiyi.provider(h.http)]
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert (done.state, done.provider, done.tried_providers) == (JobState.DONE, "apiyi", ("poyo",))
    assert done.charged == 2
    assert poyo.count("submit") == apiyi.count("submit") == 1


async def test_poyo_job_resumes_after_restart(make_harness: MakeHarness, poyo: FakeServer) -> None:
    poyo.script.finish_after = 3600
    h = make_harness(runner=RunnerConfig(deadline=600, poll_schedule=FAST))
    h.providers = [poyo.provider(h.http)]
    await h.open()
    job = await h.create(request(count=2))
    await h.state_is(job.id, JobState.RUNNING)
    await h.close()
    task_id = next(iter(poyo.tasks))
    await poyo.finish(task_id)  # it finished while the bot was down
    await h.open()
    done = await h.final(job.id)
    assert (done.state, done.charged, done.task_id) == (JobState.DONE, 2, task_id)
    assert poyo.count("submit") == 1
    assert len(h.deliverer.posted) == 2
