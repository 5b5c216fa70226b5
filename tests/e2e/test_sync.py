"""Command sync: to the dev guild at every start, globally only when the tree changed."""

from __future__ import annotations

from tests.e2e.harness import World


def global_syncs(world: World) -> int:
    return len(world.discord.requests_to("PUT", r"^/applications/\d+/commands$"))


async def test_global_sync_happens_once_for_an_unchanged_tree(world: World) -> None:
    async with world.running():
        pass
    assert global_syncs(world) == 1
    names = {command["name"] for command in world.discord.commands()}
    assert {"imagine", "edit", "status", "Edit image"} <= names
    async with world.running():
        pass
    assert global_syncs(world) == 1  # the stored hash matched: no second sync


async def test_dev_guild_is_synced_at_every_start(world: World) -> None:
    guild_id = world.discord.guild.id
    for _ in range(2):
        async with world.running(dev_guild_id=guild_id):
            pass
    guild_syncs = world.discord.requests_to(
        "PUT", rf"^/applications/\d+/guilds/{guild_id}/commands$"
    )
    assert len(guild_syncs) == 2
    assert global_syncs(world) == 0
    names = {command["name"] for command in world.discord.commands(guild_id)}
    assert {"imagine", "edit", "status"} <= names


async def test_slash_commands_are_guild_only(world: World) -> None:
    async with world.running():
        commands = {command["name"]: command for command in world.discord.commands()}
    for name in ("imagine", "edit", "status", "Edit image"):
        assert commands[name].get("contexts") == [0], name


async def test_imagine_count_is_capped_by_the_setting(world: World) -> None:
    async with world.running(max_images_per_job=3):
        commands = {command["name"]: command for command in world.discord.commands()}
    count = next(o for o in commands["imagine"]["options"] if o["name"] == "count")
    assert (count["min_value"], count["max_value"]) == (1, 3)


async def test_every_command_is_guild_installed_and_used_in_guilds_only(world: World) -> None:
    """A user-installed copy (integration type 1) or a DM / group-DM context (1, 2) would let
    someone spend the operator's credits outside the servers the bot is in."""
    async with world.running():
        commands = {command["name"]: command for command in world.discord.commands()}
    assert {"imagine", "edit", "status", "Edit image", "quota", "blocklist"} <= set(commands)
    for name, command in commands.items():
        assert command.get("integration_types") == [0], name
        assert command.get("contexts") == [0], name
