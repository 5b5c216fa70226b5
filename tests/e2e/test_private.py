"""Private results (the member's DMs) and spoilered images, through the real bot."""

from __future__ import annotations

from tests.e2e.harness import World, answer_modal, job_id_in
from tests.e2e.test_edit import photo

CHANNEL_MESSAGES = r"/channels/\d+/messages"


async def test_a_private_imagine_posts_its_card_and_images_in_the_members_dms(
    world: World,
) -> None:
    async with world.running():
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a secret garden", "private": True}
        )
        answer = await handle.followup(0)
        assert answer.ephemeral
        assert "DMs" in answer.content
        job_id = job_id_in(answer.content)
        dm = world.discord.dm_channel(world.discord.user)

        def delivered() -> object:
            return [m for m in world.discord.messages(dm) if m.attachments] or None

        [result] = await world.wait(delivered)
        await world.settled(job_id)
        assert result.embeds[0]["footer"]["text"].endswith(job_id)
        assert "a secret garden" in result.embeds[0]["description"]
        notes = [m.content for m in world.discord.messages(dm) if not m.attachments]
        assert any("private job" in n and "Fake Guild" in n for n in notes)
        assert world.channel_messages() == []
        assert world.provider.count("submit") == 1
        assert world.discord.requests_to("POST", r"/users/@me/channels")


async def test_a_private_edit_goes_to_dms_too(world: World) -> None:
    async with world.running():
        upload = world.discord.add_attachment(*photo())
        handle = await world.discord.slash(
            "edit", options={"prompt": "make it purple", "image": upload, "private": True}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        dm = world.discord.dm_channel(world.discord.user)
        await world.wait(lambda: [m for m in world.discord.messages(dm) if m.attachments] or None)
        await world.settled(job_id)
        assert world.channel_messages() == []


async def test_closed_dms_refuse_a_private_job_before_any_provider_call_and_charge_nothing(
    world: World,
) -> None:
    async with world.running():
        world.discord.fail_next(
            "POST",
            CHANNEL_MESSAGES,
            403,
            {"message": "Cannot send messages to this user", "code": 50007},
        )
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a secret garden", "private": True}
        )
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "direct messages" in refusal.content
        assert "Nothing was charged" in refusal.content
        assert world.provider.count() == 0
        status = await world.discord.slash("status")
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Left today"] == "10 of 10"
        assert "None yet" in fields["Recent jobs"]


async def test_a_private_job_without_quota_sends_no_dm(world: World) -> None:
    async with world.running(default_daily_quota=0):
        handle = await world.discord.slash("imagine", options={"prompt": "x", "private": True})
        await handle.response()
        await handle.followup(0)
        assert world.discord.requests_to("POST", r"/users/@me/channels") == []
        assert world.provider.count() == 0


async def test_spoiler_posts_every_image_with_discords_spoiler_flag(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a plot twist", "count": 2, "spoiler": True}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        assert len(result.attachments) == 2
        assert all(a.filename.startswith("SPOILER_") for a in result.attachments)


async def test_without_spoiler_images_are_plain(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a plot twist"})
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        assert not result.attachments[0].filename.startswith("SPOILER_")


async def test_buttons_under_a_private_result_answer_clearly_in_dms(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "x", "private": True})
        job_id = job_id_in((await handle.followup(0)).content)
        dm = world.discord.dm_channel(world.discord.user)
        [result] = await world.wait(
            lambda: [m for m in world.discord.messages(dm) if m.attachments] or None
        )
        await world.settled(job_id)
        click = await world.discord.click(result, f"sd:reroll:{job_id}")
        answer = await click.response()
        text = answer.content or (await click.followup(0)).content
        assert "server" in text
        assert world.provider.count("submit") == 1
        delete = await world.discord.click(result, f"sd:delete:{job_id}")
        await delete.response()
        await world.wait(lambda: not [m for m in world.discord.messages(dm) if m.attachments])


async def test_editing_a_spoilered_result_keeps_the_spoiler(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "x", "spoiler": True})
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        opener = await world.discord.click(result, f"sd:edit:{job_id}")
        submitted = await answer_modal(world, opener, "now in winter")
        edited = await world.result(job_id_in((await submitted.followup(0)).content))
        assert edited.attachments[0].filename.startswith("SPOILER_")


async def test_reply_door_follows_the_members_spoiler_default(world: World) -> None:
    async with world.running():
        await (await world.discord.slash("settings", options={"spoiler": True})).response()
        original = await world.discord.user_message(content="my cat", attachments=[photo()])
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make the sky purple", reference=original.message
        )
        card = await reply.response()
        job_id = card.embeds[0]["footer"]["text"].split()[-1]
        result = await world.result(job_id)
        assert result.attachments[0].filename.startswith("SPOILER_")
