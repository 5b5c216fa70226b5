"""Provider callbacks through the running bot's web server: only a wake-up, never the truth.

The bot polls slowly here (every 30 s), so a job moves only when a callback wakes it. Forged
secrets, another job's task, unreadable and oversized bodies, a "succeeded" claim for a task
that is still running and a replayed callback after the end: none may change any job.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.jobs.waiting import PollSchedule
from bot.web.server import MAX_CALLBACK_BYTES
from tests.e2e.harness import PROVIDER_KEY, World, fast_engine, job_id_in, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script
from tests.resilience.support import free_port, query, result_messages, snapshot

#: one early poll (the task is seen running), then only a callback makes the bot look again
SLOW_POLLS = PollSchedule(first=0.05, interval=30.0, growth=1.0, max_interval=30.0)


@pytest.fixture
async def web_world(tmp_path: Path) -> AsyncIterator[World]:
    """Fakes whose tasks run until the test finishes them; the bot's public URL is known."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FakeProvider(
            "poyo", api_key=PROVIDER_KEY, script=Script(states=("queued", "running"))
        ) as provider,
    ):
        port = free_port()
        settings = make_settings(tmp_path, http_port=port, public_url=f"http://127.0.0.1:{port}")
        yield World(discord=discord, provider=provider, settings=settings)
        assert not discord.unhandled, discord.unhandled


def running_web(world: World) -> Any:
    options = fast_engine(public_url=world.settings.public_url, poll_schedule=SLOW_POLLS)
    return world.running(engine_options=options)


async def two_running_jobs(world: World) -> tuple[list[str], dict[str, str]]:
    """Two jobs, running at the provider; job id -> the callback URL the provider was given."""
    jobs = []
    for prompt in ("first", "second"):
        handle = await world.discord.slash("imagine", options={"prompt": prompt})
        jobs.append(job_id_in((await handle.followup(0, timeout=10)).content))
    rows = await world.wait(
        lambda: (
            (r := query(world.settings.database_path, "SELECT * FROM jobs"))
            and all(row["state"] == "running" for row in r)
            and len(r) == 2
            and r
        ),
        10,
    )
    tasks = {row["id"]: row["task_id"] for row in rows}
    urls = {job: world.provider.tasks[tasks[job]].callback_url or "" for job in jobs}
    assert all(url.startswith(world.settings.public_url or "?") for url in urls.values())
    return jobs, urls


def polled_since(provider: FakeProvider, polls: int) -> bool:
    return provider.count("status") > polls


def swap_secret(url: str, secret: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + secret


def state_of(world: World, job_id: str) -> str:
    [row] = query(world.settings.database_path, "SELECT state FROM jobs WHERE id = ?", [job_id])
    return str(row["state"])


def all_done(world: World) -> bool:
    rows = query(world.settings.database_path, "SELECT state FROM jobs")
    return all(row["state"] == "done" for row in rows)


def jobs_table(world: World) -> Any:
    return snapshot(world.settings.database_path, ["jobs", "job_images", "daily_usage"])


async def test_nothing_forged_moves_a_job(web_world: World) -> None:
    world = web_world
    provider = world.provider
    async with asyncio.timeout(30), running_web(world), httpx.AsyncClient() as client:
        (first, second), urls = await two_running_jobs(world)
        db_rows = {r["id"]: r for r in query(world.settings.database_path, "SELECT * FROM jobs")}
        task = {job: db_rows[job]["task_id"] for job in (first, second)}
        succeeded = provider.callback_body(task[first], "succeeded")
        base = world.settings.public_url
        real_secret = urls[first].rsplit("/", 1)[1]

        forged: list[tuple[str, str, bytes, dict[str, str], int]] = [
            ("unknown secret", swap_secret(urls[first], "f" * 43), succeeded, {}, 404),
            ("empty-ish secret", swap_secret(urls[first], "x"), succeeded, {}, 404),
            (
                "right secret, wrong provider",
                f"{base}/callbacks/vidgo/{real_secret}",
                succeeded,
                {},
                404,
            ),
            ("unknown provider", f"{base}/callbacks/nope/{real_secret}", succeeded, {}, 404),
            ("another job's task", urls[second], succeeded, {}, 400),
            ("not JSON", urls[first], b"<html>502 Bad Gateway", {}, 400),
            ("empty body", urls[first], b"", {}, 400),
            ("JSON of the wrong shape", urls[first], b'{"hello": "world"}', {}, 400),
            ("truncated", urls[first], succeeded[: len(succeeded) // 2], {}, 400),
        ]
        before = jobs_table(world)
        polls = provider.count("status")
        for what, url, body, headers, expected in forged:
            response = await client.post(
                url, content=body, headers={"Content-Type": "application/json", **headers}
            )
            assert response.status_code == expected, (what, response.status_code, response.text)
            assert "Traceback" not in response.text
        await asyncio.sleep(0.2)
        assert jobs_table(world) == before
        assert provider.count("status") == polls  # nobody was even woken

        # oversized, declared and streamed without a length: refused before it is read
        huge = b'{"pad": "' + b"x" * (MAX_CALLBACK_BYTES + 10) + b'"}'
        response = await client.post(urls[first], content=huge)
        assert response.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(huge), 65536):
                yield huge[start : start + 65536]

        response = await client.post(urls[first], content=chunks())
        assert response.status_code == 413
        assert jobs_table(world) == before

        # a well-formed "succeeded" for a task still running: the job only asks the provider
        for state in ("succeeded", "failed"):
            claim = provider.callback_body(task[first], state)
            response = await client.post(urls[first], content=claim)
            assert response.status_code == 200
            assert response.json() == {"result": "woken"}
            await world.wait(functools.partial(polled_since, provider, polls), 5)
            polls = provider.count("status")
        await asyncio.sleep(0.2)
        assert jobs_table(world) == before
        assert result_messages(world.discord) == {}

        # the real end: the provider's own callback delivers both jobs, once
        for job in (first, second):
            await provider.finish(task[job])
        await world.wait(lambda: all_done(world), 10)
        done = jobs_table(world)

        # replaying the genuine callbacks afterwards changes nothing
        for job in (first, second):
            replay = provider.callback_body(task[job], "succeeded")
            response = await client.post(urls[job], content=replay)
            assert response.status_code in (200, 404), response.text
            assert response.json()["result"] in ("ignored", "not_found")
        await asyncio.sleep(0.2)
        assert jobs_table(world) == done
        assert {job: len(m) for job, m in result_messages(world.discord).items()} == {
            first: 1,
            second: 1,
        }
        assert [r[1] for r in provider.callbacks_sent] == [200, 200]


async def test_a_callback_for_a_finished_job_in_a_new_process_changes_nothing(
    web_world: World,
) -> None:
    world = web_world
    provider = world.provider
    async with asyncio.timeout(30), httpx.AsyncClient() as client:
        async with running_web(world):
            (first, second), urls = await two_running_jobs(world)
            rows = {r["id"]: r for r in query(world.settings.database_path, "SELECT * FROM jobs")}
            await provider.finish(rows[first]["task_id"])
            await world.wait(lambda: state_of(world, first) == "done", 10)
        # restarted: the second job resumes, the first is done
        async with running_web(world):
            before = jobs_table(world)
            body = provider.callback_body(rows[first]["task_id"], "succeeded")
            response = await client.post(urls[first], content=body)
            assert response.status_code in (200, 404)
            await asyncio.sleep(0.2)
            assert jobs_table(world) == before
            await provider.finish(rows[second]["task_id"])
            await world.wait(lambda: all_done(world), 10)
        assert {job: len(m) for job, m in result_messages(world.discord).items()} == {
            first: 1,
            second: 1,
        }
