"""The operator's cost controls through the real doors: ceilings on what moderators hand out,
a bot-wide daily budget, and numbers that are numbers."""

from __future__ import annotations

import pytest

from bot.core.accounts import GuildSettings
from tests.e2e.harness import World, job_id_in
from tests.e2e.test_moderation import (
    audit,
    command,
    guild_settings,
    imagine,
    mod_says,
    moderator,
    offered_values,
    status,
)

# ------------------------------------------------------------------ ceilings


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("quota set", {"daily": "101"}),
        ("quota defaults", {"daily": "10000"}),
        ("quota role", {"daily": "101"}),
        ("quota budget", {"daily": "101"}),
    ],
)
async def test_daily_values_over_max_daily_quota_are_refused_with_the_ceiling(
    world: World, name: str, options: dict[str, str]
) -> None:
    async with world.running():
        extra = {"user": world.discord.user} if name == "quota set" else {}
        if name == "quota role":
            extra = {"role": world.discord.everyone_role}
        answer = await command(world, name, moderator(world), **extra, **options)
        assert answer.ephemeral
        assert "at most 100 images per day" in (answer.content or "")
        assert "MAX_DAILY_QUOTA" in (answer.content or "")
        assert await audit(world) == []
        assert await guild_settings(world) == GuildSettings(world.discord.guild.id)
        assert (await status(world))["Left today"] == "10 of 10"


async def test_the_ceiling_follows_the_setting(world: World) -> None:
    async with world.running(max_daily_quota=20):
        mod = moderator(world)
        refusal = await command(world, "quota defaults", mod, daily="21")
        assert "at most 20 images per day" in (refusal.content or "")
        said = await mod_says(world, mod, "quota defaults", daily="20")
        assert "20/day" in said
        typed = await world.discord.autocomplete(
            "quota budget", "daily", "500", user=mod, options={}
        )
        assert await offered_values(typed) == ["20"]


async def test_a_grant_over_max_grant_is_refused_and_removal_is_not_capped(world: World) -> None:
    async with world.running(max_grant=50):
        mod = moderator(world)
        alice = world.discord.user
        refusal = await command(world, "quota grant", mod, user=alice, amount=51)
        assert refusal.ephemeral
        assert "at most 50 credits per grant" in (refusal.content or "")
        assert "MAX_GRANT" in (refusal.content or "")
        assert await audit(world) == []
        assert (await status(world))["Bonus credits"] == "0"

        await mod_says(world, mod, "quota grant", user=alice, amount=50)
        await mod_says(world, mod, "quota grant", user=alice, amount=50)
        assert (await status(world))["Bonus credits"] == "100"
        # taking credits away never costs the operator: more than one grant's worth is fine
        await mod_says(world, mod, "quota grant", user=alice, amount=-80)
        assert (await status(world))["Bonus credits"] == "20"


# ------------------------------------------------------------------ ASCII digits only


@pytest.mark.parametrize("typed", ["²", "１２", "١٢", "5²", "1_0"])
async def test_daily_accepts_ascii_digits_only(world: World, typed: str) -> None:
    """``"²".isdigit()`` is True and ``int("１２")`` is 12: neither may pass as a number."""
    async with world.running():
        mod = moderator(world)
        answer = await command(world, "quota set", mod, user=world.discord.user, daily=typed)
        assert answer.ephemeral
        assert "`daily`" in (answer.content or "")
        assert "digits 0-9" in (answer.content or "")
        assert await audit(world) == []
        assert (await status(world))["Left today"] == "10 of 10"
        offered = await world.discord.autocomplete(
            "quota set", "daily", typed, user=mod, options={"user": world.discord.user}
        )
        assert await offered_values(offered) == []


# ------------------------------------------------------------------ GLOBAL_DAILY_BUDGET


async def test_the_global_budget_refuses_with_a_discord_timestamp_and_charges_nothing(
    world: World,
) -> None:
    async with world.running(global_daily_budget=3):
        bob = world.discord.add_member(name="bob")
        job_id = job_id_in(await imagine(world, count=2))
        refusal = await imagine(world, bob, count=2)
        assert "across all its servers" in refusal
        assert ":R>" in refusal  # when it comes back, in the reader's time zone
        assert (await status(world, bob))["Left today"] == "10 of 10"
        await world.result(job_id)
        job_id_in(await imagine(world, bob, count=1))  # what is left still fits
        assert "across all its servers" in await imagine(world, bob, count=1)
