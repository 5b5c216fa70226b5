"""The HTTP server on a real port: callbacks only wake jobs, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.jobs.runner import RunnerConfig
from bot.jobs.states import JobState
from bot.models import TaskState, TaskStatus
from bot.waiting import PollSchedule
from bot.web import MAX_CALLBACK_BYTES, WebServer
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import FakeProvider, Script, fake_provider, running

#: polls so rarely that only a callback can make a job progress within a test
SLOW = PollSchedule(first=60, interval=60, growth=1.0, max_interval=60)


@pytest.fixture
async def setup(
    tmp_path: Path,
) -> AsyncIterator[tuple[Harness, FakeProvider, WebServer, httpx.AsyncClient]]:
    provider = fake_provider(script=Script(hold=running(20)))
    harness = Harness(
        tmp_path,
        [provider],
        settings_overrides={"public_url": "https://bot.example"},
        runner=RunnerConfig(deadline=600, public_url="https://bot.example", poll_schedule=SLOW),
    )
    engine = await harness.open()
    assert harness.db is not None
    connected = {"value": True}
    server = WebServer(
        engine=engine,
        db=harness.db,
        discord_connected=lambda: connected["value"],
        host="127.0.0.1",
        port=0,
    )
    port = await server.start()
    assert port > 0
    server.connected = connected  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield harness, provider, server, client
    await server.stop()
    await harness.close()
    await harness.http.aclose()


async def submitted_job(harness: Harness, provider: FakeProvider) -> tuple[str, str]:
    job = await harness.create()
    await harness.state_is(job.id, JobState.SUBMITTED)
    callback_url = provider.submitted[0][1]
    assert callback_url is not None
    assert callback_url.startswith("https://bot.example/callbacks/fake/")
    return job.id, callback_url.rsplit("/", 1)[1]


def body(task_id: str, state: str | None = None) -> bytes:
    return (
        TaskStatus(task_id=task_id, state=TaskState(state or "running"))
        .model_dump_json(include={"task_id", "state"} if state else {"task_id"})
        .encode()
    )


async def test_right_secret_wakes_the_job(setup) -> None:
    harness, provider, _, client = setup
    job_id, secret = await submitted_job(harness, provider)
    await wait_until(lambda: provider.status_calls == 0)
    provider.script.hold = None  # the provider now reports success
    response = await client.post(f"/callbacks/fake/{secret}", content=body("fake-task-1"))
    assert (response.status_code, response.json()) == (200, {"result": "woken"})
    done = await harness.final(job_id)
    assert (done.state, done.charged) == (JobState.DONE, 1)
    # duplicate deliveries after the end are harmless
    again = await client.post(f"/callbacks/fake/{secret}", content=body("fake-task-1", "succeeded"))
    assert (again.status_code, again.json()) == (200, {"result": "ignored"})
    assert (await harness.job(job_id)).charged == 1
    assert len(harness.deliverer.posted) == 1


async def test_wrong_secret_is_404_and_changes_nothing(setup) -> None:
    harness, provider, _, client = setup
    job_id, secret = await submitted_job(harness, provider)
    before = await harness.job(job_id)
    calls = provider.status_calls
    for path in (
        f"/callbacks/fake/{secret[:-1]}x",
        "/callbacks/fake/nope",
        f"/callbacks/other/{secret}",
    ):
        response = await client.post(path, content=body("fake-task-1", "succeeded"))
        assert response.status_code == 404
    after = await harness.job(job_id)
    assert (after.state, after.updated_at) == (before.state, before.updated_at)
    assert provider.status_calls == calls


async def test_forged_success_does_not_finish_a_running_job(setup) -> None:
    harness, provider, _, client = setup
    job_id, secret = await submitted_job(harness, provider)
    calls = provider.status_calls
    response = await client.post(
        f"/callbacks/fake/{secret}", content=body("fake-task-1", "succeeded")
    )
    assert response.status_code == 200
    await wait_until(lambda: provider.status_calls > calls)  # it asked the provider...
    await harness.state_is(job_id, JobState.RUNNING)  # ...which says running
    job = await harness.job(job_id)
    assert (job.progress, job.charged, harness.deliverer.posted) == (20, None, [])


async def test_garbage_and_foreign_task_ids_are_400(setup) -> None:
    harness, provider, _, client = setup
    job_id, secret = await submitted_job(harness, provider)
    assert (await client.post(f"/callbacks/fake/{secret}", content=b"not json")).status_code == 400
    other = await client.post(f"/callbacks/fake/{secret}", content=body("someone-elses-task"))
    assert other.status_code == 400
    assert (await harness.job(job_id)).state.at_provider


async def test_oversized_bodies_are_413(setup) -> None:
    harness, provider, _, client = setup
    _, secret = await submitted_job(harness, provider)
    big = b"x" * (MAX_CALLBACK_BYTES + 1)
    assert (await client.post(f"/callbacks/fake/{secret}", content=big)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * (MAX_CALLBACK_BYTES // 4)

    response = await client.post(f"/callbacks/fake/{secret}", content=chunks())
    assert response.status_code == 413


async def test_healthz_reports_database_and_discord(setup) -> None:
    _, _, server, client = setup
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "discord": True, "engine": True}
    server.connected["value"] = False
    response = await client.get("/healthz")
    assert (response.status_code, response.json()["discord"]) == (503, False)


async def test_metrics_expose_jobs_latency_errors_and_charges(setup) -> None:
    harness, provider, _, client = setup
    job_id, secret = await submitted_job(harness, provider)
    provider.script.hold = None
    await client.post(f"/callbacks/fake/{secret}", content=body("fake-task-1"))
    await harness.final(job_id)
    text = (await client.get("/metrics")).text
    assert 'seedream_jobs{state="done"} 1.0' in text
    assert 'seedream_images_charged_total{provider="fake"} 1.0' in text
    assert 'seedream_provider_latency_seconds_count{operation="submit",provider="fake"} 1.0' in text
    assert "seedream_provider_errors_total" in text


async def test_secrets_never_reach_the_logs(setup, caplog: pytest.LogCaptureFixture) -> None:
    harness, provider, _, client = setup
    caplog.set_level("DEBUG")
    _, secret = await submitted_job(harness, provider)
    await client.post(f"/callbacks/fake/{secret}", content=body("fake-task-1"))
    await client.post(f"/callbacks/fake/{secret}x", content=body("fake-task-1"))
    # the test's own httpx client logs the URLs it calls; everything else must not
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert ours
    assert not [line for line in ours if secret in line]
