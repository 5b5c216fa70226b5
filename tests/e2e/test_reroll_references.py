"""Re-roll of an edit once Discord's signed attachment URLs expired (about a day later):
the images are read again from their message, or the member is told they are gone."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.harness import World, answer_modal, job_id_in
from tests.providers.fakes import make_image

GONE = "The original images are gone; reply to them again."


def photo(name: str = "photo.png") -> tuple[str, bytes, str]:
    return (name, make_image("png"), "image/png")


async def edit_by_reply(world: World) -> tuple[str, object]:
    """A member's photo, edited by a reply that mentions the bot; (job id, photo message)."""
    original = await world.discord.user_message(content="my cat", attachments=[photo()])
    reply = await world.discord.user_message(
        content=f"{world.discord.bot_mention} make the sky purple", reference=original.message
    )
    card = await reply.response()
    job_id = card.embeds[0]["footer"]["text"].split()[-1]
    return job_id, original.message


async def left_today(world: World) -> str:
    status = await world.discord.slash("status")
    fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
    return str(fields["Left today"])


async def still_served(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        return (await http.get(url)).is_success


@pytest.mark.parametrize("door", ["reply", "edit button"])
async def test_reroll_reads_expired_references_again_from_their_message(
    world: World, door: str
) -> None:
    async with world.running():
        if door == "reply":
            edit_id, source = await edit_by_reply(world)
        else:  # the Edit button under a result: the reference is the bot's own result image
            handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
            first = job_id_in((await handle.followup(0)).content)
            source = await world.result(first)
            opener = await world.discord.click(source, f"sd:edit:{first}")
            submitted = await answer_modal(world, opener, "now in winter")
            edit_id = job_id_in((await submitted.followup(0)).content)
        edited = await world.result(edit_id)
        old_url = world.provider.last("submit").body["input"]["image_urls"][0]
        assert await still_served(old_url)

        world.discord.expire_attachment_urls()  # a day later
        assert not await still_served(old_url)
        click = await world.discord.click(edited, f"sd:reroll:{edit_id}")
        reroll_id = job_id_in((await click.followup(0)).content)
        rerolled = await world.result(reroll_id)
        assert rerolled.embeds[0]["title"] == "Re-roll"

        sent = world.provider.last("submit").body["input"]
        assert sent["prompt"] == ("make the sky purple" if door == "reply" else "now in winter")
        fresh = world.discord.message(source.id).attachments[0].url
        assert sent["image_urls"] == [fresh]
        assert fresh != old_url
        assert await still_served(fresh)


@pytest.mark.parametrize("how", ["message deleted", "slash upload"])
async def test_reroll_refuses_when_the_original_images_are_gone(world: World, how: str) -> None:
    async with world.running():
        if how == "message deleted":
            edit_id, source = await edit_by_reply(world)
        else:  # an upload to /edit lives in no message: nothing to read it back from
            upload = world.discord.add_attachment(*photo())
            handle = await world.discord.slash(
                "edit", options={"prompt": "purple", "image": upload}
            )
            edit_id = job_id_in((await handle.followup(0)).content)
        edited = await world.result(edit_id)
        if how == "message deleted":
            stored = world.discord.message(source.id)
            assert stored is not None
            stored.deleted = True  # the member removed their photo
        world.discord.expire_attachment_urls()
        before = await left_today(world)
        submits = world.provider.count("submit")

        click = await world.discord.click(edited, f"sd:reroll:{edit_id}")
        answer = await click.followup(0)
        assert answer.ephemeral
        assert GONE in (answer.content or "")
        assert "Nothing was charged" in (answer.content or "")
        assert await left_today(world) == before
        assert world.provider.count("submit") == submits
        assert world.job_row(edit_id) is not None
        jobs = [m for m in world.channel_messages() if m.embeds and "Re-roll" in str(m.embeds)]
        assert jobs == []
