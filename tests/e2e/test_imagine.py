"""/imagine and /status through the real discord.py client and the fake Discord."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from tests.e2e.harness import World, job_id_in

EPHEMERAL = 64
MESSAGES = r"/channels/\d+/messages"


async def test_imagine_posts_a_card_that_becomes_the_result(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox", "count": 2})
        callback = await handle.response()
        assert callback.type == 5  # deferred within the 3-second window
        assert callback.ephemeral
        answer = await handle.followup(0)
        assert answer.ephemeral
        job_id = job_id_in(answer.content)

        result = await world.result(job_id)
        assert len(result.attachments) == 2
        for attachment in result.attachments:
            image = Image.open(io.BytesIO(attachment.data))
            image.load()
        embed = result.embeds[0]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert "a red fox" in embed["description"]
        assert fields["Provider"] == "PoYo"
        assert fields["Model"] == "seedream-4.5"
        assert fields["Cost"] == "2 images"
        custom_ids = {c.get("custom_id") for c in result.walk_components()}
        assert {f"sd:reroll:{job_id}", f"sd:edit:{job_id}", f"sd:delete:{job_id}"} <= custom_ids

        status = await world.discord.slash("status")
        reply = await status.response()
        assert reply.ephemeral
        overview = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
        assert overview["Left today"] == "8 of 10"
        assert job_id in overview["Recent jobs"]
        assert "<t:" in overview["Resets"]


async def test_status_of_one_job_and_of_someone_elses(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a lighthouse"})
        job_id = job_id_in((await handle.followup(0)).content)
        await world.result(job_id)

        mine = await world.discord.slash("status", options={"job": job_id})
        embed = (await mine.response()).embeds[0]
        assert embed["title"] == f"Job {job_id}"
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["State"] == "Done"
        assert fields["Cost"] == "1 image"

        stranger = world.discord.add_member(name="stranger")
        theirs = await world.discord.slash("status", user=stranger, options={"job": job_id})
        refusal = await theirs.response()
        assert refusal.ephemeral
        assert "No such job" in (refusal.content or "")


async def test_status_autocomplete_offers_my_recent_jobs(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a lighthouse"})
        job_id = job_id_in((await handle.followup(0)).content)
        auto = await world.discord.autocomplete("status", focused="job", value=job_id[:3])
        callback = await auto.response()
        assert callback.type == 8
        assert [c["value"] for c in callback.data["choices"]] == [job_id]


async def test_member_without_quota_is_refused_and_charged_nothing(world: World) -> None:
    async with world.running(default_daily_quota=0):
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "<t:" in refusal.content  # when the allowance comes back
        assert world.provider.count("submit") == 0
        assert world.channel_messages() == []


async def test_invalid_ratio_names_the_option_and_allowed_values(world: World) -> None:
    async with world.running():
        # Seedream 4.0 on PoYo takes the preset ratios only (4.5 takes any W:H in its bounds)
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a red fox", "ratio": "7:3", "model": "seedream-4"}
        )
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "ratio" in refusal.content
        assert "16:9" in refusal.content
        assert world.provider.count("submit") == 0
        status = await world.discord.slash("status")
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Left today"] == "10 of 10"


async def test_ratio_autocomplete_offers_the_models_ratios(world: World) -> None:
    async with world.running():
        auto = await world.discord.autocomplete("imagine", focused="ratio", value="16")
        choices = [c["value"] for c in (await auto.response()).data["choices"]]
        assert choices == ["16:9", "9:16"]


def noisy_png(side: int) -> bytes:
    """Incompressible pixels: a PNG far larger than a small upload limit."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_large_results_are_fitted_under_the_upload_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = noisy_png(768)
    monkeypatch.setattr(world.provider, "_image_bytes", lambda index: big)
    async with world.running():
        limit = 200_000
        handle = await world.discord.slash(
            "imagine", options={"prompt": "static"}, attachment_size_limit=limit
        )
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        assert all(a.size <= limit for a in result.attachments)
        assert result.attachments[0].filename.endswith((".jpg", ".jpeg", ".webp"))


async def test_a_job_that_outlives_the_interaction_token_still_delivers(world: World) -> None:
    world.provider.script.finish_after = 1.0
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "slow"})
        job_id = job_id_in((await handle.followup(0)).content)
        world.discord.expire_token(handle)
        result = await world.result(job_id)
        assert result.attachments
        assert not result.ephemeral


async def test_a_channel_the_bot_cannot_post_in_is_refused_and_charged_nothing(
    world: World,
) -> None:
    async with world.running():
        attach_files = 1 << 15
        await world.discord.set_channel_permissions(world.discord.channel, deny=attach_files)
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "Attach Files" in refusal.content
        assert "Nothing was charged" in refusal.content
        assert world.provider.count() == 0


async def test_cards_carry_a_nonce_so_a_repost_after_a_crash_is_deduplicated(
    world: World,
) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        job_id = job_id_in((await handle.followup(0)).content)
        card = await world.result(job_id)
        [post] = world.discord.requests_to("POST", r"^/channels/\d+/messages$")
        assert post.json["nonce"] == f"card-{job_id}"
        assert post.json["enforce_nonce"] is True
        # What a restarted bot would do if the crash came before the card id was recorded:
        channel = world.bot.get_partial_messageable(card.channel_id)
        again = await channel.send("repeat", nonce=f"card-{job_id}")
        assert again.id == card.id
        assert len(world.channel_messages()) == 1


async def test_a_failure_whose_card_is_gone_is_told_privately(world: World) -> None:
    world.provider.script.fail = "The prompt violates our content policy"
    world.provider.script.finish_after = 0.5
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "something"})
        job_id = job_id_in((await handle.followup(0)).content)
        card = await world.wait(lambda: world.card(job_id))
        world.discord.message(card.id).deleted = True  # a moderator removed the card
        note = await handle.followup(1)
        assert note.ephemeral
        assert f"Job `{job_id}` failed" in note.content
        assert "1 image refunded" in note.content
        status = await world.discord.slash("status")
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Left today"] == "10 of 10"


async def test_a_failed_job_says_why_on_its_card_and_refunds(world: World) -> None:
    world.provider.script.fail = "The prompt violates our content policy"
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "something", "count": 2})
        job_id = job_id_in((await handle.followup(0)).content)
        card = await world.wait(
            lambda: (c := world.card(job_id)) and "Failed" in c.embeds[0]["title"] and c
        )
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert "content filter" in fields["Why"]
        assert fields["Refunded"] == "2 images"
        assert card.find_component(f"sd:cancel:{job_id}") is None


async def test_a_413_from_discord_takes_the_next_rung_instead_of_failing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = noisy_png(256)
    monkeypatch.setattr(world.provider, "_image_bytes", lambda index: big)
    async with world.running():
        world.discord.fail_next(
            "PATCH",
            r"/channels/\d+/messages/\d+",
            413,
            body={"message": "Request entity too large", "code": 40005},
        )
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        [refused] = [
            r
            for r in world.discord.requests_to("PATCH", r"^/channels/\d+/messages/\d+$")
            if r.status == 413
        ]
        original = refused.files[0].data
        assert result.attachments[0].size < len(original)
        assert result.attachments[0].filename.endswith((".jpg", ".webp"))


async def test_more_than_ten_images_are_split_across_messages(world: World) -> None:
    async with world.running(max_images_per_job=12, default_daily_quota=20):
        handle = await world.discord.slash("imagine", options={"prompt": "many", "count": 12})
        job_id = job_id_in((await handle.followup(0)).content)
        card = await world.result(job_id)
        assert len(card.attachments) == 10
        overflow = await world.wait(
            lambda: [m for m in world.channel_messages() if m.id != card.id and m.attachments]
        )
        assert [len(m.attachments) for m in overflow] == [2]
        assert overflow[0].find_component(f"sd:reroll:{job_id}") is not None
        # the card announces the result last, once the overflow message is out
        posts = [r for r in world.discord.requests_to("POST", MESSAGES) if r.files]
        edits = [r for r in world.discord.requests_to("PATCH", rf"{MESSAGES}/{card.id}") if r.files]
        assert len(posts) == len(edits) == 1
        order = [id(r) for r in world.discord.requests]
        assert order.index(id(posts[0])) < order.index(id(edits[0])), "card edited first"
        status = await world.discord.slash("status", options={"job": job_id})
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Cost"] == "12 images"
