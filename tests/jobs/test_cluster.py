"""The cluster path on PostgreSQL with two engines ("processes") on one database: a job is
queued and deferred in the transaction that creates it, a stopping process hands its jobs
back at once, a dead one's are retried after the stall timeout, a callback at one process
wakes the runner at the other, and the limits hold across both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from bot.core.errors import QuotaExceededError
from bot.core.states import JobState
from bot.jobs.callbacks import CallbackOutcome
from bot.jobs.cluster import ClusterTimings
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.waiting import PollSchedule
from tests.jobs.harness import FAST_CLUSTER, Harness, wait_until
from tests.jobs.support import Script, fake_provider, request, running

MakeHarness = Callable[..., Harness]
#: a dead process is noticed only after a minute: anything sooner is a handback
SLOW_STALL = ClusterTimings(
    stall_timeout=60.0, recovery_interval=30.0, fetch_interval=0.1, positions_interval=0.1
)


@pytest.fixture
def harness_backend() -> str:
    return "postgres"


async def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(query, args)
        return await cursor.fetchall()


async def test_created_jobs_are_queued_and_deferred_in_their_transaction(
    make_harness: MakeHarness, pg_url: str
) -> None:
    h = make_harness(fake_provider(), settings_overrides={"default_daily_quota": 3})
    await h.open(start=False)  # no worker, no resume: only the creating transactions act
    jobs = [await h.create(user=7) for _ in range(3)]
    with pytest.raises(QuotaExceededError):
        await h.create(user=7)
    deferred = await rows(
        pg_url, "SELECT args->>'job_id' FROM procrastinate_jobs WHERE status = 'todo'"
    )
    flights = await rows(pg_url, "SELECT job_id FROM cluster_flights")
    waiting = await rows(pg_url, "SELECT job_id FROM cluster_waiting")
    # MAX_JOBS_PER_USER=2: two admitted (and deferred), the third waits; the refused one
    # left nothing behind
    admitted = {jobs[0].id, jobs[1].id}
    assert {r[0] for r in deferred} == admitted
    assert {r[0] for r in flights} == admitted
    assert [r[0] for r in waiting] == [jobs[2].id]
    assert h.engine is not None
    assert h.engine.queue_position(jobs[2].id) == 1


async def test_stop_hands_jobs_back_and_another_process_resumes_them_at_once(
    make_harness: MakeHarness,
) -> None:
    provider = fake_provider(script=Script(hold=running(30)))
    a = make_harness(provider, cluster=SLOW_STALL)
    b = make_harness(provider, cluster=SLOW_STALL)
    await a.open()
    job = await a.create(request(count=2))
    await a.state_is(job.id, JobState.RUNNING)
    await b.open()
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    await a.close()
    assert loop.time() - stopped < 10.0
    provider.script.hold = None
    done = await b.final(job.id, timeout=10.0)
    # well before the 60 s stall timeout: it was handed back, not found dead
    assert loop.time() - stopped < 15.0
    assert (done.state, done.charged) == (JobState.DONE, 2)
    assert sorted(i for jid, i, _ in b.deliverer.posted if jid == job.id) == [0, 1]
    assert not [p for p in a.deliverer.posted if p[0] == job.id]
    assert len(provider.submitted) == 1  # resumed by polling, not resubmitted


async def test_a_dead_workers_jobs_are_retried_after_the_stall_timeout(
    make_harness: MakeHarness, pg_url: str
) -> None:
    stuck = fake_provider(script=Script(status_gate=asyncio.Event()))
    healthy = fake_provider()
    a = make_harness(stuck, cluster=SLOW_STALL)
    await a.open()
    job = await a.create()
    await stuck.status_started.wait()
    # the process "dies": its heartbeat stops (here: it is made old) and it never finishes
    await rows(
        pg_url,
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' RETURNING id",
    )
    b = make_harness(healthy, cluster=FAST_CLUSTER)
    await b.open()
    done = await b.final(job.id, timeout=10.0)
    assert (done.state, done.charged) == (JobState.DONE, 1)
    assert [p[1] for p in b.deliverer.posted if p[0] == job.id] == [0]


async def test_a_callback_at_one_process_wakes_the_runner_at_another(
    make_harness: MakeHarness,
) -> None:
    provider = fake_provider(script=Script(statuses=[running(10)]))
    # polls a minute apart: only a wake-up can finish the job within the test
    slow = RunnerConfig(
        public_url="https://bot.example",
        poll_schedule=PollSchedule(first=0.01, interval=60.0, growth=1.0, max_interval=60.0),
        delivery_backoff=0.001,
    )
    a = make_harness(provider, runner=slow)
    b = make_harness(provider, runner=slow)
    await a.open()
    await b.open()
    job = await a.create()
    await a.state_is(job.id, JobState.RUNNING)
    _, url = provider.submitted[0]
    assert url is not None
    secret = url.rsplit("/", 1)[1]
    task_id = (await a.job(job.id)).task_id
    assert b.engine is not None
    body = f'{{"task_id": "{task_id}", "state": "succeeded"}}'.encode()
    # whichever process runs it, the other one receives the callback
    outcome = await b.engine.handle_callback("fake", secret, body)
    assert outcome is CallbackOutcome.WOKEN
    done = await a.final(job.id, timeout=10.0)
    assert done.state is JobState.DONE


async def test_limits_hold_across_processes(make_harness: MakeHarness, pg_url: str) -> None:
    provider = fake_provider(script=Script(hold=running()))
    overrides = {"provider_concurrency": 3, "max_jobs_per_user": 2}
    a = make_harness(provider, settings_overrides=overrides)
    b = make_harness(provider, settings_overrides=overrides)
    await a.open()
    await b.open()
    jobs = [await (a if n % 2 else b).create(user=n % 3) for n in range(9)]
    samples: list[tuple[int, int]] = []

    async def sample() -> bool:
        per_member = await rows(
            pg_url,
            "SELECT coalesce(max(n), 0) FROM"
            " (SELECT count(*) AS n FROM cluster_flights GROUP BY user_id) m",
        )
        at_provider = await rows(
            pg_url, "SELECT count(*) FROM jobs WHERE state IN ('submitted', 'running')"
        )
        samples.append((int(per_member[0][0]), int(at_provider[0][0])))
        return samples[-1][1] == 3

    await wait_until(sample, timeout=10.0)
    for _ in range(20):
        await sample()
    provider.script.hold = None
    for job in jobs:
        assert (await a.final(job.id, timeout=15.0)).state is JobState.DONE
    assert max(m for m, _ in samples) <= 2
    assert max(p for _, p in samples) <= 3
    assert len(provider.submitted) == 9
