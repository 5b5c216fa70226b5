"""/storyboard: Seedream's sequences through the real bot, fake Discord and fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import World, job_id_in, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, make_image


@pytest.fixture
async def ark(tmp_path: Path) -> AsyncIterator[World]:
    """A fake Discord and a fake BytePlus ModelArk (synchronous; sequences on 4.x)."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FakeProvider("ark") as provider,
    ):
        yield World(discord=discord, provider=provider, settings=make_settings(tmp_path))
        assert not discord.unhandled, discord.unhandled


def frame_numbers(message: Any) -> list[int]:
    """The frame numbers of a message's files (``seedream-<job>-<n>.png``)."""
    return [int(a.filename.rsplit(".", 1)[0].rsplit("-", 1)[1]) for a in message.attachments]


async def left_today(world: World) -> str:
    status = await world.discord.slash("status")
    fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
    return str(fields["Left today"])


async def test_twelve_frames_arrive_in_order_in_two_messages_and_charge_twelve(
    ark: World,
) -> None:
    async with ark.running(default_daily_quota=20):
        handle = await ark.discord.slash(
            "storyboard", options={"prompt": "a fox's day, morning to night", "frames": 12}
        )
        answer = await handle.followup(0)
        assert "12 images reserved" in answer.content
        job_id = job_id_in(answer.content)
        card = await ark.result(job_id)

        body = ark.provider.last("submit").body
        assert body["sequential_image_generation"] == "auto"
        assert body["sequential_image_generation_options"] == {"max_images": 12}
        assert body["prompt"].startswith("a fox's day, morning to night")
        assert "A storyboard of 12 images" in body["prompt"]
        assert card.embeds[0]["description"] == "a fox's day, morning to night"

        messages = [m for m in ark.channel_messages() if m.attachments]
        assert [m.id for m in messages] == sorted(m.id for m in messages)
        assert len(messages) == 2
        assert messages[0].id == card.id  # the card, posted first, carries frames 1-10
        assert frame_numbers(messages[0]) == list(range(1, 11))
        assert frame_numbers(messages[1]) == [11, 12]
        assert card.embeds[0]["title"] == "Storyboard"
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert fields["Cost"].startswith("12 images")

        row = await ark.settled(job_id)
        assert row["charged"] == 12
        assert await left_today(ark) == "8 of 20"


async def test_a_provider_returning_9_of_12_frames_refunds_3(ark: World) -> None:
    ark.provider.script.images = 9
    async with ark.running(default_daily_quota=20):
        handle = await ark.discord.slash("storyboard", options={"prompt": "a comic", "frames": 12})
        job_id = job_id_in((await handle.followup(0)).content)
        card = await ark.result(job_id)
        row = await ark.settled(job_id)
        assert row["reserved_daily"] + row["reserved_bonus"] == 12
        assert row["charged"] == 9
        assert frame_numbers(card) == list(range(1, 10))
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert "3 refunded" in fields["Cost"]
        assert await left_today(ark) == "11 of 20"


async def test_frames_above_max_storyboard_frames_are_refused_before_any_request(
    ark: World,
) -> None:
    async with ark.running(default_daily_quota=20, max_storyboard_frames=5):
        handle = await ark.discord.slash("storyboard", options={"prompt": "a comic", "frames": 6})
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "frames" in refusal.content
        assert "5" in refusal.content
        assert ark.provider.count() == 0
        assert ark.channel_messages() == []
        assert await left_today(ark) == "20 of 20"


async def test_storyboards_are_not_capped_by_max_images_per_job(ark: World) -> None:
    async with ark.running(default_daily_quota=20, max_images_per_job=2):
        handle = await ark.discord.slash("storyboard", options={"prompt": "a comic", "frames": 6})
        job_id = job_id_in((await handle.followup(0)).content)
        await ark.result(job_id)
        assert (await ark.settled(job_id))["charged"] == 6


async def test_references_plus_frames_above_15_are_refused_before_any_download(
    world: World,
) -> None:
    async with world.running(default_daily_quota=20):
        uploads = [
            world.discord.add_attachment(f"ref{i}.png", make_image("png", i), "image/png")
            for i in range(4)
        ]
        options: dict[str, Any] = {"prompt": "a comic", "frames": 12, "image": uploads[0]}
        options.update({f"image{i + 1}": uploads[i] for i in range(1, 4)})
        handle = await world.discord.slash("storyboard", options=options)
        await handle.response()
        refusal = await handle.followup(0)
        assert "frames" in refusal.content
        assert "reference images: 4" in refusal.content
        assert world.provider.count() == 0
        cdn = [r for r in world.discord.requests if "/attachments/" in r.path]
        assert cdn == []


async def test_a_storyboard_needs_quota_for_every_frame(world: World) -> None:
    async with world.running(default_daily_quota=10):
        options = {"prompt": "a comic", "frames": 11}
        handle = await world.discord.slash("storyboard", options=options)
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"


async def test_storyboard_on_poyo_sends_n_with_the_references(world: World) -> None:
    async with world.running(default_daily_quota=20):
        upload = world.discord.add_attachment("hero.png", make_image("png"), "image/png")
        handle = await world.discord.slash(
            "storyboard", options={"prompt": "the hero's journey", "frames": 4, "image": upload}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        card = await world.result(job_id)
        body = world.provider.last("submit").body
        assert body["input"]["n"] == 4
        assert body["input"]["image_urls"] == [upload["url"]]
        assert len(card.attachments) == 4


async def test_imagine_enhance_and_format_reach_ark_as_documented(ark: World) -> None:
    async with ark.running():
        handle = await ark.discord.slash("imagine", options={"prompt": "a fox", "enhance": True})
        card = await ark.result(job_id_in((await handle.followup(0)).content))
        assert ark.provider.last("submit").body["optimize_prompt_options"] == {"mode": "standard"}
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert fields["Prompt enhancement"] == "used (standard)"

        auto = await ark.discord.autocomplete(
            "imagine", focused="format", options={"model": "seedream-5-0-260128"}
        )
        assert [c["value"] for c in (await auto.response()).data["choices"]] == ["png", "jpeg"]
        handle = await ark.discord.slash(
            "imagine", options={"prompt": "a fox", "model": "seedream-5-0-260128", "format": "png"}
        )
        card = await ark.result(job_id_in((await handle.followup(0)).content))
        assert ark.provider.last("submit").body["output_format"] == "png"
        assert {f["name"]: f["value"] for f in card.embeds[0]["fields"]}["Format"] == "PNG"

        handle = await ark.discord.slash(
            "imagine", options={"prompt": "a fox", "format": "png"}
        )  # 4.5 is jpeg only
        await handle.response()
        assert "format" in (await handle.followup(0)).content
        assert ark.provider.count("submit") == 2
