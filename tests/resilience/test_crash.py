"""SIGKILL with 50 jobs in flight, then a restart on the same database.

The bot runs as a real process (``python -m bot run``) against the fake Discord and a fake
PoYo. Every state is pinned by the fakes, not by timing, so the kill always lands with jobs in
each of them:

* done        5 jobs whose tasks were finished and whose results were posted;
* delivering 10 jobs in channel #slow, where Discord answers every message edit with 500
              (discord.py retries, the job waits in ``delivering`` with its images on disk);
* running    10 jobs whose provider tasks report "running";
* submitted  10 jobs whose provider tasks report "not started";
* queued     15 jobs waiting because ``PROVIDER_CONCURRENCY=20`` slots are all taken.

After the restart, every job must be delivered exactly once (its images in exactly one
message, the job's own card) and charged exactly once (ledger, usage counters).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from tests.e2e.harness import job_id_in
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import FakeChannel, FakeMember
from tests.providers.fakes import FakeProvider, Script
from tests.resilience.support import (
    accounts,
    bot_env,
    bot_process,
    cards,
    free_port,
    job_states,
    poll,
    query,
    result_messages,
    state_counts,
    wait_healthy,
)

TOKEN = "MTk5OTg4ODc3NzY2NjU1NTQ0.GcRaSh.crash-test-token-that-must-never-be-logged"
KEY = "sk-crash-test-poyo-key-that-must-never-be-logged"
COHORTS = {"done": 5, "delivering": 10, "running": 10, "submitted": 10, "queued": 15}


async def imagine_many(
    discord: FakeDiscord,
    count: int,
    members: list[FakeMember],
    channel: FakeChannel,
    label: str,
) -> list[str]:
    """``count`` /imagine commands (1-3 images each) spread over ``members``; their job ids."""
    handles = []
    for n in range(count):
        handles.append(
            await discord.slash(
                "imagine",
                user=members[n % len(members)],
                channel=channel,
                options={"prompt": f"{label} {n}", "count": 1 + n % 3},
            )
        )
    answers = await asyncio.gather(*(handle.followup(0, timeout=15) for handle in handles))
    return [job_id_in(answer.content) for answer in answers]


def task_ids(provider: FakeProvider, jobs: list[str], db: Path) -> dict[str, str]:
    """Job id -> provider task id, for the jobs whose submit the ledger recorded."""
    rows = query(db, "SELECT id, task_id FROM jobs WHERE task_id IS NOT NULL")
    wanted = set(jobs)
    return {row["id"]: row["task_id"] for row in rows if row["id"] in wanted}


def in_state(db: Path, jobs: list[str], state: str) -> bool:
    states = job_states(db)
    return all(states.get(job) == state for job in jobs)


async def test_sigkill_with_fifty_jobs_in_flight_delivers_and_charges_each_once(
    tmp_path: Path,
) -> None:
    async with (
        asyncio.timeout(75),
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        # tasks report "not started" until the test moves them (forced state or finish())
        FakeProvider("poyo", api_key=KEY, script=Script(states=("queued",))) as provider,
    ):
        port = free_port()
        env = bot_env(
            tmp_path,
            discord,
            provider,
            port,
            DISCORD_TOKEN=TOKEN,
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            DEFAULT_DAILY_QUOTA="100",
            MAX_JOBS_PER_USER="50",
            PROVIDER_CONCURRENCY="20",
        )
        db = tmp_path / "data" / "bot.sqlite3"
        slow = discord.add_channel("slow")
        members = [discord.add_member(name=f"member{i}") for i in range(5)]
        general = discord.channel

        async with bot_process(tmp_path, env) as first:
            await wait_healthy(first, timeout=30)

            # done: finished at the provider, posted, charged
            done = await imagine_many(discord, COHORTS["done"], members, general, "done")
            tasks = await poll(
                lambda: len(t := task_ids(provider, done, db)) == len(done) and t, 10, "submits"
            )
            for task_id in tasks.values():
                await provider.finish(task_id)
            await poll(lambda: in_state(db, done, "done"), 15, "the first jobs to be done")

            # delivering: images stored, Discord answers 500 to every edit in #slow
            discord.fail_next("PATCH", rf"/channels/{slow.id}/messages/\d+", 500, times=100_000)
            delivering = await imagine_many(
                discord, COHORTS["delivering"], members, slow, "delivering"
            )
            tasks = await poll(
                lambda: len(t := task_ids(provider, delivering, db)) == len(delivering) and t,
                10,
                "submits",
            )
            for task_id in tasks.values():
                await provider.finish(task_id)
            await poll(lambda: in_state(db, delivering, "delivering"), 15, "delivering jobs")

            # running and submitted: 20 tasks hold all 20 provider slots
            at_provider = await imagine_many(discord, 20, members, general, "at provider")
            running, submitted = at_provider[:10], at_provider[10:]
            tasks = await poll(
                lambda: len(t := task_ids(provider, at_provider, db)) == 20 and t, 10, "submits"
            )
            for job_id in running:
                provider.tasks[tasks[job_id]].forced = "running"
            await poll(lambda: in_state(db, running, "running"), 15, "running jobs")
            assert in_state(db, submitted, "submitted")

            # queued: no provider slot left
            queued = await imagine_many(discord, COHORTS["queued"], members, general, "queued")
            await asyncio.sleep(0.5)  # give the scheduler every chance to (wrongly) start one
            assert in_state(db, queued, "queued")
            assert provider.count("submit") == 35

            at_kill = state_counts(db)
            assert at_kill == Counter(COHORTS), at_kill
            assert any(
                r.status == 500 for r in discord.requests_to("PATCH", rf"/channels/{slow.id}/.*")
            )
            first.process.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(first.process.wait(), 10) == -signal.SIGKILL

        assert state_counts(db) == at_kill  # nothing moved after the last look
        jobs = done + delivering + running + submitted + queued
        cohorts = {
            "done": done,
            "delivering": delivering,
            "running": running,
            "submitted": submitted,
            "queued": queued,
        }
        assert len(set(jobs)) == 50

        # the world heals: Discord takes edits again, the provider finishes every task
        discord.rest.faults.clear()
        provider.script.finish_after = 0.2  # tasks submitted from now on finish by themselves
        async with bot_process(tmp_path, env) as second:
            await wait_healthy(second, timeout=30)
            for job_id in running + submitted:
                await provider.finish(tasks[job_id])
            await poll(lambda: in_state(db, jobs, "done"), 30, f"all done: {state_counts(db)}")
            second.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.process.wait(), 15) == 0

        # charged exactly once
        ledger = accounts(db)
        assert len(ledger.jobs) == 50
        for job in ledger.jobs:
            reserved = job["reserved_daily"] + job["reserved_bonus"]
            assert job["state"] == "done", job
            assert job["charged"] == reserved == ledger.delivered[job["id"]], job
        assert ledger.daily_used == ledger.charged_by_member
        assert ledger.guild_used == {discord.guild.id: sum(ledger.charged_by_member.values())}

        # delivered exactly once: each job's images in one message, and that is its own card
        results = result_messages(discord)
        assert set(results) == set(jobs), set(results) ^ set(jobs)
        charged = {job["id"]: job["charged"] for job in ledger.jobs}
        card_ids = {job["id"]: job["card_message_id"] for job in ledger.jobs}
        beside = []
        for job_id in jobs:
            [message] = results[job_id]
            assert len(message.attachments) == charged[job_id], job_id
            if message.id != card_ids[job_id]:
                beside.append(job_id)
        cohort = {job_id: name for name, ids in cohorts.items() for job_id in ids}
        assert not beside, f"results posted beside the card: {Counter(cohort[j] for j in beside)}"
        stale = {job_id: len(found) for job_id, found in cards(discord).items() if len(found) > 1}
        assert not stale, f"jobs with a leftover card besides their result: {stale}"

        assert provider.count("submit") == 50  # no task was submitted twice
        # images stored before the kill were posted from disk, not fetched again
        assert provider.count("image") == sum(charged.values())
        assert not discord.unhandled
        for run in (first, second):
            assert "Traceback" not in run.output
            assert TOKEN not in run.output
            assert KEY not in run.output
