"""Shards across real processes: each ``run`` connects only its ``SHARD_IDS`` and gets only
its shards' events, against the fake Discord's two-shard gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import FakeGuild
from tests.providers.fakes import FakeProvider

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gshard.token-that-must-never-be-logged"
KEY = "sk-poyo-shard-key-that-must-never-be-logged"


async def guild_on_each_shard(discord: FakeDiscord) -> dict[int, FakeGuild]:
    """A new guild per shard (a guild's shard is its id's timestamp modulo the count)."""
    guilds: dict[int, FakeGuild] = {}
    while len(guilds) < discord.shard_count:
        guild = discord.new_guild(f"Guild {len(discord.extra_guilds)}")
        guilds.setdefault(discord.shard_of(guild.id), guild)
        await asyncio.sleep(0.002)  # the next snowflake's millisecond
    return guilds


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_run_processes_each_connect_and_hear_only_their_own_shard(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    # SQLite: a database per process; PostgreSQL: one for both (two buckets: no spacing)
    shared = {"DATABASE_URL": request.getfixturevalue("pg_url")} if backend == "postgres" else {}
    async with (
        FakeDiscord(
            heartbeat_interval_ms=1000, token=TOKEN, shard_count=2, max_concurrency=2
        ) as discord,
        FakeProvider("poyo", api_key=KEY) as provider,
    ):
        envs = [
            bot_env(
                tmp_path / f"shard{shard}",
                discord,
                provider,
                free_port(),
                DISCORD_TOKEN=TOKEN,
                SHARD_IDS=str(shard),
                SHARD_COUNT="2",
                ALLOWED_GUILD_IDS=str(discord.guild.id),
                **shared,
            )
            for shard in (0, 1)
        ]
        async with (
            bot_process(tmp_path, envs[0]) as first,
            bot_process(tmp_path, envs[1]) as second,
        ):
            await discord.wait_ready(timeout=30)
            await wait_healthy(first, timeout=30)
            await wait_healthy(second, timeout=30)
            # One connection per process, each identified for its own shard of two.
            assert sorted((i.shard_id, i.shard_count) for i in discord.gateway.identifies) == [
                (0, 2),
                (1, 2),
            ]
            assert discord.gateway.connection_count == 2

            # A server on each shard adds the bot; only that shard's process hears of it
            # (and leaves, as the server is not on the allow-list).
            guilds = await guild_on_each_shard(discord)
            for guild in guilds.values():
                await discord.dispatch(
                    "GUILD_CREATE", discord.guild_join_payload(guild), guild_id=guild.id
                )
            await discord.wait_for(
                lambda: {g.id for g in guilds.values()} <= set(discord.left_guild_ids) or None,
                timeout=20,
            )
            await discord.settle()
        for shard, process in ((0, first), (1, second)):
            own, other = guilds[shard].id, guilds[1 - shard].id
            assert f"Leaving server {own} " in process.output
            assert f"Leaving server {other} " not in process.output
        home = discord.shard_of(discord.guild.id)
        by_shard = {0: first, 1: second}
        assert ", in 1 server\n" in by_shard[home].output
        assert ", in 0 servers\n" in by_shard[1 - home].output
        assert sorted(discord.left_guild_ids) == sorted(g.id for g in guilds.values())
        assert TOKEN not in first.output + second.output
