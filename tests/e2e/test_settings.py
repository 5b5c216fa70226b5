"""/settings defaults and /style styles, through the real bot and the fake Discord and PoYo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ConfigError
from bot.jobs.preferences import load_styles
from tests.e2e.harness import World, job_id_in
from tests.fakes.discord_models import FakeMember


def fields_of(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def settings(world: World, **options: Any) -> Any:
    handle = await world.discord.slash("settings", options=options)
    return await handle.response()


async def imagine(world: World, **options: Any) -> tuple[str, Any]:
    handle = await world.discord.slash("imagine", options=options)
    answer = await handle.followup(0)
    job_id = job_id_in(answer.content)
    return job_id, await world.result(job_id)


async def refused(world: World, command: str, **options: Any) -> str:
    handle = await world.discord.slash(command, options=options)
    await handle.response()
    answer = await handle.followup(0)
    assert answer.ephemeral
    return str(answer.content)


def moderator(world: World) -> FakeMember:
    return world.discord.add_member(name="mod", roles=[world.discord.moderator_role])


async def test_defaults_apply_and_explicit_options_win(world: World) -> None:
    async with world.running():
        saved = await settings(world, ratio="16:9", count=2, spoiler=True, model="seedream-4")
        assert saved.ephemeral
        shown = fields_of(saved.embeds[0])
        assert shown["ratio"] == "`16:9`"
        assert shown["spoiler"] == "`on`"

        _, card = await imagine(world, prompt="a harbour at dawn")
        body = world.provider.last("submit").body
        assert body["model"] == "seedream-4"
        assert body["input"]["size"] == "16:9"
        assert body["input"]["n"] == 2
        assert all(a.filename.startswith("SPOILER_") for a in card.attachments)
        fields = fields_of(card.embeds[0])
        assert fields["Model"] == "seedream-4 (your default)"
        assert "ratio (your default)" in fields["Your defaults"]

        _, card = await imagine(
            world, prompt="a harbour", ratio="1:1", count=1, spoiler=False, model="seedream-4.5"
        )
        body = world.provider.last("submit").body
        assert body["model"] == "seedream-4.5"
        assert body["input"]["size"] == "1:1"
        assert body["input"]["n"] == 1
        assert not card.attachments[0].filename.startswith("SPOILER_")
        assert "(your default)" not in str(card.embeds[0])


async def test_defaults_are_per_member(world: World) -> None:
    async with world.running():
        await settings(world, ratio="16:9")
        other = world.discord.add_member(name="other")
        handle = await world.discord.slash("imagine", user=other, options={"prompt": "a harbour"})
        await world.result(job_id_in((await handle.followup(0)).content))
        assert "size" not in world.provider.last("submit").body["input"]


async def test_settings_alone_shows_them_and_reset_clears_them(world: World) -> None:
    async with world.running():
        empty = await settings(world)
        assert "None set" in fields_of(empty.embeds[0])
        await settings(world, count=3, private=False)
        shown = fields_of((await settings(world)).embeds[0])
        assert shown == {"count": "`3`", "private": "`off`"}
        cleared = await settings(world, reset=True)
        assert "cleared" in cleared.embeds[0]["description"]
        assert "None set" in fields_of((await settings(world)).embeds[0])
        await imagine(world, prompt="a harbour")
        assert world.provider.last("submit").body["input"]["n"] == 1


async def test_a_default_the_model_cannot_take_is_refused_and_nothing_is_saved(
    world: World,
) -> None:
    async with world.running():
        answer = await settings(world, ratio="40:1")
        assert answer.ephemeral
        assert "ratio" in answer.content
        assert "1:16 to 16:1" in answer.content
        answer = await settings(world, style="no-such-style")
        assert "style" in answer.content
        assert "None set" in fields_of((await settings(world)).embeds[0])


async def test_a_private_default_sends_results_to_dms(world: World) -> None:
    async with world.running():
        await settings(world, private=True)
        handle = await world.discord.slash("imagine", options={"prompt": "a secret"})
        job_id = job_id_in((await handle.followup(0)).content)
        dm = world.discord.dm_channel(world.discord.user)
        await world.wait(lambda: [m for m in world.discord.messages(dm) if m.attachments] or None)
        await world.settled(job_id)
        assert world.channel_messages() == []


async def test_server_styles_wrap_the_prompt_and_status_shows_what_was_sent(
    world: World,
) -> None:
    async with world.running():
        mod = moderator(world)
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "Noir", "template": "{prompt}, film noir"}
        )
        assert "noir" in (await handle.response()).content

        auto = await world.discord.autocomplete("imagine", focused="style", value="no")
        assert "noir" in [c["value"] for c in (await auto.response()).data["choices"]]

        job_id, card = await imagine(world, prompt="a detective", style="noir")
        assert world.provider.last("submit").body["input"]["prompt"] == "a detective, film noir"
        assert card.embeds[0]["description"] == "a detective"
        assert fields_of(card.embeds[0])["Style"] == "noir"

        status = await world.discord.slash("status", options={"job": job_id})
        status_fields = fields_of((await status.response()).embeds[0])
        assert status_fields["Prompt sent (style noir)"] == "a detective, film noir"

        listing = await world.discord.slash("style list")
        listed = fields_of((await listing.response()).embeds[0])
        assert "noir" in listed["This server's styles"]
        assert "anime" in listed["The bot's styles"]

        handle = await world.discord.slash("style remove", user=mod, options={"name": "noir"})
        assert "removed" in (await handle.response()).content
        content = await refused(world, "imagine", prompt="a detective", style="noir")
        assert "style" in content
        assert world.provider.count("submit") == 1


async def test_shipped_styles_work_out_of_the_box(world: World) -> None:
    async with world.running():
        await imagine(world, prompt="a cat", style="anime")
        prompt = world.provider.last("submit").body["input"]["prompt"]
        assert prompt.startswith("a cat, anime")


async def test_bad_templates_and_non_moderators_are_refused(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "x", "template": "no placeholder"}
        )
        assert "{prompt}" in (await handle.response()).content
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "x", "template": "{prompt} " + "a" * 1050}
        )
        assert "at most 1,000" in (await handle.response()).content
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "bad name!", "template": "{prompt}"}
        )
        assert "style name" in (await handle.response()).content
        handle = await world.discord.slash(
            "style add", options={"name": "mine", "template": "{prompt}, mine"}
        )
        assert "Manage Server" in (await handle.response()).content
        listing = await world.discord.slash("style list")
        assert fields_of((await listing.response()).embeds[0])["This server's styles"] == "None."


async def test_enhance_and_format_are_refused_where_the_model_has_none(world: World) -> None:
    async with world.running():
        content = await refused(world, "imagine", prompt="a cat", enhance=True)
        assert "enhance" in content
        assert "no prompt enhancement" in content
        content = await refused(world, "imagine", prompt="a cat", format="png")
        assert "format" in content
        assert world.provider.count() == 0


def test_styles_path_replaces_the_shipped_set(tmp_path: Path) -> None:
    path = tmp_path / "styles.toml"
    path.write_text('noir = "{prompt}, film noir"\n[clay]\ntemplate = "claymation of {prompt}"\n')
    assert load_styles(path) == {"noir": "{prompt}, film noir", "clay": "claymation of {prompt}"}
    assert "anime" in load_styles(None)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('noir = "film noir"', "{prompt}"),
        ("noir = ", "TOML"),
        ('"bad name!" = "{prompt}"', "style name"),
        ("", "no style"),
    ],
)
def test_a_bad_styles_file_stops_the_start_with_a_clear_error(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "styles.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_styles(path)
    assert caught.value.variable == "STYLES_PATH"
    assert says in str(caught.value)


async def test_a_server_keeps_at_most_50_styles(world: World) -> None:
    async with world.running():
        assert world.bot is not None
        desk = world.bot.desk
        guild = world.discord.guild.id
        for number in range(50):
            await desk.preferences.add_style(guild, f"s{number}", "{prompt}", 1)
        mod = moderator(world)
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "one-more", "template": "{prompt}, more"}
        )
        assert "50 styles" in (await handle.response()).content
        handle = await world.discord.slash(
            "style add", user=mod, options={"name": "s7", "template": "{prompt}, replaced"}
        )
        assert "replaced" in (await handle.response()).content
