"""A SIGKILLed process's job resumes in another process within JOB_STALL_TIMEOUT plus one
JOB_RECOVERY_INTERVAL, and is still delivered once and charged once (real processes on one
PostgreSQL, the fake Discord and a fake provider)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import psycopg

from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gfailv.token-that-must-never-be-logged"
KEY = "sk-poyo-failover-key-that-must-never-be-logged"
STALL, TICK = 3, 1


def claimed_by(pg_url: str) -> int | None:
    """The procrastinate worker running the one job's task, if one is."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT worker_id FROM procrastinate_jobs WHERE status = 'doing'"
        ).fetchone()
    return None if row is None else row[0]


def ledger(pg_url: str) -> tuple[str, int, int]:
    with psycopg.connect(pg_url) as conn:
        state, charged = conn.execute("SELECT state, charged FROM jobs").fetchone() or ("", 0)
        used = conn.execute("SELECT coalesce(sum(used), 0) FROM daily_usage").fetchone()
    return str(state), int(charged), int(used[0] if used else -1)


async def test_a_killed_process_job_resumes_elsewhere_within_stall_plus_tick(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=10.0)) as provider,
    ):
        timings = {"JOB_STALL_TIMEOUT": str(STALL), "JOB_RECOVERY_INTERVAL": str(TICK)}

        def env(name: str) -> dict[str, str]:
            return bot_env(
                tmp_path / name,
                discord,
                provider,
                free_port(),
                DISCORD_TOKEN=TOKEN,
                DATABASE_URL=pg_url,
                **timings,
            )

        async with bot_process(tmp_path, env("run")) as run:
            await discord.wait_ready(timeout=30)
            handle = await discord.slash("imagine", options={"prompt": "a fox that outlives"})
            await handle.followup(0, timeout=15)
            first = await discord.wait_for(lambda: claimed_by(pg_url), timeout=15)
            await discord.wait_for(lambda: provider.count("submit") or None, timeout=15)
            async with bot_process(tmp_path, env("worker"), "worker") as worker:
                await wait_healthy(worker, timeout=30)
                run.process.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await run.process.wait()
                second = await discord.wait_for(
                    lambda: ((w := claimed_by(pg_url)) not in (None, first) and w) or None,
                    timeout=STALL + TICK + 10,
                )
                failover = time.monotonic() - killed
                result = await discord.wait_for(
                    lambda: next(
                        (m for m in discord.messages(discord.channel) if m.attachments), None
                    ),
                    timeout=40,
                )
                await asyncio.sleep(1.0)  # a duplicate post would land now
                worker.process.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(worker.process.wait(), timeout=10) == 0
    print(f"RESULT failover_seconds={failover:.2f} (stall {STALL} + tick {TICK})")
    assert second != first
    # its last heartbeat was at most STALL/3 before the kill, so it counts as dead at most
    # STALL after it, and a recovery tick follows within TICK; one second of slack for the
    # machine (the worker's poll for new tasks included)
    assert failover <= STALL + TICK + 1.0
    assert result.attachments[0].data
    assert len([m for m in discord.messages(discord.channel) if m.attachments]) == 1
    assert provider.count("submit") == 1  # resumed by polling, not resubmitted
    state, charged, used = ledger(pg_url)
    assert (state, charged) == ("done", 1)
    assert used == charged
    assert TOKEN not in worker.output
