"""The HTTP server on a real port: callbacks only wake jobs, health, metrics on their own bind,
refusals logged safely."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.core.request import TaskState, TaskStatus
from bot.core.states import JobState
from bot.jobs.events import JobDelivered
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.ledger import JobLedger
from bot.jobs.waiting import PollSchedule
from bot.web.refusals import RefusalLog
from bot.web.server import MAX_CALLBACK_BYTES, WebServer
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import FakeProvider, Script, fake_provider, running

#: polls so rarely that only a callback can make a job progress within a test
SLOW = PollSchedule(first=60, interval=60, growth=1.0, max_interval=60)


@dataclass
class Clock:
    """A monotonic clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


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
    assert harness.store is not None
    connected = {"value": True}
    server = WebServer(
        engine=engine,
        db=harness.store,
        discord_connected=lambda: connected["value"],
        host="127.0.0.1",
        port=0,
        metrics_port=0,
        refusals=RefusalLog(logger=logging.getLogger("bot.web"), interval=60, clock=Clock()),
    )
    port = await server.start()
    assert port > 0
    assert server.metrics_port not in (None, 0, port)
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
    harness, provider, server, client = setup
    job_id, secret = await submitted_job(harness, provider)
    provider.script.hold = None
    await client.post(f"/callbacks/fake/{secret}", content=body("fake-task-1"))
    await harness.final(job_id)
    # the charge is counted after the settlement, before JobDelivered is announced
    await harness.event(JobDelivered)
    text = (await client.get(f"http://127.0.0.1:{server.metrics_port}/metrics")).text
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


async def test_metrics_live_on_their_own_bind_only(setup) -> None:
    _, _, server, client = setup
    metrics = f"http://127.0.0.1:{server.metrics_port}"
    assert (await client.get("/metrics")).status_code == 404  # not on the public side
    private = await client.get(f"{metrics}/metrics")
    assert private.status_code == 200
    assert "seedream_jobs" in private.text
    # and the private side serves nothing else
    assert (await client.get(f"{metrics}/healthz")).status_code == 404
    assert (await client.post(f"{metrics}/callbacks/fake/x", content=b"{}")).status_code == 404


async def test_an_unknown_provider_is_404_before_any_database_lookup(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, client = setup
    lookups: list[str] = []
    real = JobLedger.by_callback_key

    async def counting(self: JobLedger, key: str) -> object:
        lookups.append(key)
        return await real(self, key)

    monkeypatch.setattr(JobLedger, "by_callback_key", counting)
    for name in ("nope", "FAKE", "fake2", "%2e%2e"):
        response = await client.post(f"/callbacks/{name}/some-secret", content=b"{}")
        assert (response.status_code, response.json()) == (404, {"result": "not_found"})
    assert lookups == []
    # a known provider does look the secret up (the spy works)
    assert (await client.post("/callbacks/fake/some-secret", content=b"{}")).status_code == 404
    assert len(lookups) == 1


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("bot.web")]


async def test_refusal_logs_are_sanitised_and_rate_limited(
    setup, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, server, client = setup
    clock = server.refusals.clock
    caplog.set_level("INFO", logger="bot.web")
    evil = "%0D%0AINFO%20forged%20line%1B%5B31m%E2%80%AE"  # CR LF, ESC[31m, RTL override
    for _ in range(20):
        response = await client.post(f"/callbacks/{evil}/x", content=b"{}")
        assert response.status_code == 404
    for _ in range(5):
        assert (await client.post("/callbacks/fake/unknown", content=b"{}")).status_code == 404
    lines = refusal_lines(caplog)
    assert len(lines) == 2, lines  # one per reason, however many requests
    unknown_provider, unknown_secret = lines
    assert "unknown provider" in unknown_provider
    assert "\\r\\nINFO forged line\\x1b[31m\\u202e" in unknown_provider
    assert "unknown secret" in unknown_secret
    for line in lines:
        assert not any(ch in line for ch in "\r\n\x1b\u202e"), repr(line)

    caplog.clear()
    clock.now += 61  # the interval has passed: the next line says what was left out
    await client.post(f"/callbacks/{evil}/x", content=b"{}")
    [line] = refusal_lines(caplog)
    assert "(19 more callbacks for unknown providers suppressed in the last 61 s)" in line
    await server.stop()  # what is still suppressed is reported at the end
    assert "4 more callbacks with unknown secrets suppressed" in refusal_lines(caplog)[-1]


async def test_malformed_requests_are_one_line_without_a_traceback(
    setup, caplog: pytest.LogCaptureFixture
) -> None:
    _, _, server, _ = setup
    caplog.set_level("DEBUG")
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz\x1b[2J HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        await writer.drain()
        assert b" 400 " in (await reader.read(100)).split(b"\r\n")[0]
        writer.close()
    records = [r for r in caplog.records if r.name.startswith(("bot.web", "aiohttp"))]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is None
    assert "refused a malformed HTTP request" in records[0].getMessage()
    assert "\x1b" not in records[0].getMessage()
