"""Several real processes on one PostgreSQL: command sync once, IDENTIFYs spaced per bucket,
and a ``worker`` that delivers through REST with no gateway connection."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import psycopg

from tests.botprocess import BotProcess, bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gclstr.token-that-must-never-be-logged"
KEY = "sk-poyo-cluster-key-that-must-never-be-logged"
SYNC = r"/applications/\d+/commands"
#: Discord's spacing of two IDENTIFYs in one bucket
IDENTIFY_SPACING = 5.0
#: seconds Discord takes to answer a command sync in the test of the sync lock
SLOW_SYNC = 3.0


def shard_envs(
    tmp_path: Path, discord: FakeDiscord, provider: FakeProvider, pg_url: str
) -> list[dict[str, str]]:
    """Two ``run`` processes on one database, shards 0 and 1 of 2."""
    return [
        bot_env(
            tmp_path / f"shard{shard}",
            discord,
            provider,
            free_port(),
            DISCORD_TOKEN=TOKEN,
            DATABASE_URL=pg_url,
            SHARD_IDS=str(shard),
            SHARD_COUNT="2",
        )
        for shard in (0, 1)
    ]


def task_recorded(pg_url: str) -> bool:
    """The one job's provider task is in the ledger (so a restart polls, not resubmits)."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT task_id FROM jobs").fetchone()
    return row is not None and row[0] is not None


async def stop(bot: BotProcess) -> None:
    bot.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(bot.process.wait(), timeout=15) == 0


async def test_two_processes_starting_together_sync_once_and_space_one_buckets_identifies(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(
            heartbeat_interval_ms=1000, token=TOKEN, shard_count=2, max_concurrency=1
        ) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        # A slow sync: without the lock both processes would find the tree unsynced.
        discord.delay_next("PUT", SYNC, SLOW_SYNC, times=2)
        first_env, second_env = shard_envs(tmp_path, discord, provider, pg_url)
        async with (
            bot_process(tmp_path, first_env) as first,
            bot_process(tmp_path, second_env) as second,
        ):
            await discord.wait_ready(timeout=60)
            await wait_healthy(first, timeout=30)
            await wait_healthy(second, timeout=30)
            await stop(first)
            await stop(second)
    # The tree was synced by one process; the other found it synced.
    assert len(discord.requests_to("PUT", SYNC)) == 1
    logs = first.output + second.output
    assert logs.count("Synced ") == 1
    assert logs.count("Command tree unchanged; no global sync") == 1
    # Both shards are in bucket 0 (max_concurrency 1): their IDENTIFYs are 5 s apart,
    # although each was its process's first.
    earlier, later = sorted(discord.gateway.identifies, key=lambda identify: identify.at)
    assert {earlier.shard_id, later.shard_id} == {0, 1}
    assert later.at - earlier.at >= IDENTIFY_SPACING
    assert "Waiting for IDENTIFY bucket 0: another process holds it" in logs
    assert TOKEN not in logs


async def test_shards_in_different_buckets_identify_without_waiting(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(
            heartbeat_interval_ms=1000, token=TOKEN, shard_count=2, max_concurrency=2
        ) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        first_env, second_env = shard_envs(tmp_path, discord, provider, pg_url)
        async with (
            bot_process(tmp_path, first_env) as first,
            bot_process(tmp_path, second_env) as second,
        ):
            await discord.wait_ready(timeout=60)
            await stop(first)
            await stop(second)
    assert sorted(identify.shard_id for identify in discord.gateway.identifies) == [0, 1]
    assert "Waiting for IDENTIFY" not in first.output + second.output


async def test_a_worker_has_no_gateway_yet_serves_healthz_and_delivers_through_rest(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=3.0)) as provider,
    ):
        run_env = bot_env(
            tmp_path / "run",
            discord,
            provider,
            free_port(),
            DISCORD_TOKEN=TOKEN,
            DATABASE_URL=pg_url,
        )
        # A job is taken by a `run` process, which stops while the provider works on it.
        async with bot_process(tmp_path, run_env) as run:
            await discord.wait_ready(timeout=30)
            handle = await discord.slash("imagine", options={"prompt": "a slow fox"})
            await handle.followup(0, timeout=15)
            await discord.wait_for(lambda: task_recorded(pg_url) or None, timeout=15)
            await stop(run)
        connections, identifies = discord.gateway.connection_count, discord.gateway.identify_count
        assert not [m for m in discord.messages(discord.channel) if m.attachments]

        worker_env = bot_env(
            tmp_path / "worker",
            discord,
            provider,
            free_port(),
            DISCORD_TOKEN=TOKEN,
            DATABASE_URL=pg_url,
        )
        async with bot_process(tmp_path, worker_env, "worker") as worker:
            await wait_healthy(worker, timeout=30)
            async with httpx.AsyncClient() as client:
                health = (await client.get(f"http://127.0.0.1:{worker.port}/healthz")).json()
            assert health == {"status": "ok", "database": True, "discord": True, "engine": True}
            result = await discord.wait_for(
                lambda: next((m for m in discord.messages(discord.channel) if m.attachments), None),
                timeout=40,
            )
            assert result.attachments[0].data
            await stop(worker)
    assert discord.gateway.connection_count == connections  # the worker never connected
    assert discord.gateway.identify_count == identifies
    assert provider.count("submit") == 1  # resumed by polling, not resubmitted
    assert len([m for m in discord.messages(discord.channel) if m.attachments]) == 1
    assert "Worker: logged in to Discord's REST API; no gateway connection" in worker.output
    assert TOKEN not in run.output + worker.output


async def test_a_worker_whose_token_discord_rejects_is_one_line_and_exit_2(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token="the-right-token") as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        env = bot_env(
            tmp_path, discord, provider, free_port(), DISCORD_TOKEN=TOKEN, DATABASE_URL=pg_url
        )
        async with bot_process(tmp_path, env, "worker") as worker:
            code = await asyncio.wait_for(worker.process.wait(), timeout=30)
    assert code == 2
    errors = [line for line in worker.lines if line.startswith("error:")]
    assert errors == ["error: DISCORD_TOKEN: Discord rejected the token\n"]
    assert "Traceback" not in worker.output
    assert TOKEN not in worker.output
