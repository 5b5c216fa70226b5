"""/help: what a member can do here with what they have left; moderators see their tools."""

from __future__ import annotations

from typing import Any

from bot.discord.help_render import CONTINUED, FIELD_LIMIT
from tests.e2e.harness import World, job_id_in


def fields(embed: dict[str, Any]) -> dict[str, str]:
    """Field name → value, a continued field's lines joined to the field above it."""
    shown: dict[str, str] = {}
    name = ""
    for field in embed["fields"]:
        if field["name"] != CONTINUED:
            name = field["name"]
            shown[name] = field["value"]
        else:
            shown[name] += "\n" + field["value"]
    return shown


async def test_help_lists_the_member_commands_and_what_is_left_today(world: World) -> None:
    async with world.running():
        first = await world.discord.slash("imagine", options={"prompt": "a fox", "count": 3})
        await world.result(job_id_in((await first.followup(0)).content))

        answer = await (await world.discord.slash("help")).response()
        assert answer.ephemeral
        embed = answer.embeds[0]
        assert embed["title"] == "What you can do here"
        assert embed["description"].startswith("You have 7 images left today (of 10). More <t:")
        shown = fields(embed)
        commands = shown["Commands"]
        for line in (
            "`/imagine` · Generate images from a text prompt",
            "`/edit` · Edit one or more images with an instruction",
            "`/status` · Show a job, or your recent jobs and quota",
            "`/help` · What you can do here, and what you have left",
        ):
            assert line in commands.splitlines()
        assert "/quota" not in str(shown)
        assert "For moderators" not in shown
        assert "Right-click a message › Apps › Edit image" in shown["Other ways"]


async def test_moderators_also_see_the_moderator_commands_in_their_language(
    world: World,
) -> None:
    mod = world.discord.add_member(name="mod", roles=[world.discord.moderator_role])
    async with world.running():
        answer = await (await world.discord.slash("help", user=mod, locale="de")).response()
        embed = answer.embeds[0]
        assert embed["title"] == "Was du hier tun kannst"
        assert embed["description"].startswith("Du hast heute noch 10 Bilder (von 10).")
        shown = fields(embed)
        mine = shown["Befehle"].splitlines()
        assert "`/imagine` · Bilder aus einer Textbeschreibung erzeugen" in mine
        theirs = shown["Für Moderatoren"].splitlines()
        usage = "`/kontingent verbrauch` · Bildverbrauch auf diesem Server: Diagramm und CSV"
        assert usage in theirs
        add = "`/sperrliste hinzufuegen` · Prompts mit einem bestimmten Wort oder einer Wendung"
        assert f"{add} ablehnen" in theirs
        assert len(theirs) == 14  # 11 /quota and 3 /blocklist subcommands
        assert all(len(f["value"]) <= FIELD_LIMIT for f in embed["fields"])


async def test_a_blocked_member_is_told_so(world: World) -> None:
    async with world.running():
        assert world.bot is not None
        member = world.discord.user
        await world.bot.moderation.block_user(world.discord.guild.id, 1, member.id, None)
        answer = await (await world.discord.slash("help", locale="fr")).response()
        assert answer.embeds[0]["description"] == (
            "Un modérateur vous a interdit de générer des images ici."
        )
