"""The composition root (``bot.root``) builds each long-lived object once and wires it."""

from __future__ import annotations

from bot.root import Overrides, Root
from tests.e2e.harness import World, fast_engine


async def test_every_collaborator_is_built_once_and_shared(world: World) -> None:
    root = await Root.open(world.settings, [world.provider.config()], Overrides(fast_engine()))
    try:
        bot = root.bot
        assert bot.jobs is root.engine
        assert bot.desk.jobs is root.engine
        assert bot.quotas is root.engine.quota  # one quota service: engine, admission, /quota
        assert bot.moderation is bot.moderation  # not a new service at every access
        assert bot.http_client is root.http
        assert [p.name for p in bot.providers] == [world.provider.config().name]
        assert bot.desk.providers == list(bot.providers)
    finally:
        await root.close()


async def test_overrides_are_passed_in_not_patched_afterwards(world: World) -> None:
    overrides = Overrides(fast_engine(), http_timeout=1.5, bot_options={"guild_ready_timeout": 0.1})
    root = await Root.open(world.settings, [world.provider.config()], overrides)
    try:
        assert root.http.timeout.read == 1.5
        assert root.bot.config.allowed_guild_ids == world.settings.allowed_guild_ids
    finally:
        await root.close()


async def test_the_bot_runs_as_the_root_built_it(world: World) -> None:
    async with world.running() as bot:
        assert world.root is not None
        assert world.root.bot is bot
        assert world.root.engine.running  # started by the bot once logged in
