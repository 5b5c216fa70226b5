"""Editing: /edit, the "Edit image" message menu, and a reply that mentions the bot."""

from __future__ import annotations

from tests.e2e.harness import World, answer_modal, job_id_in
from tests.providers.fakes import make_image


def photo(name: str = "photo.png") -> tuple[str, bytes, str]:
    """An attachment the fake Discord serves from its CDN."""
    return (name, make_image("png"), "image/png")


async def test_slash_edit_sends_the_attachment_as_reference(world: World) -> None:
    async with world.running():
        upload = world.discord.add_attachment(*photo())
        handle = await world.discord.slash(
            "edit", options={"prompt": "make it purple", "image": upload}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        assert result.attachments
        submitted = world.provider.last("submit").body
        assert submitted["model"] == "seedream-4.5-edit"
        assert submitted["input"]["image_urls"] == [upload["url"]]
        assert result.embeds[0]["title"] == "Edit"


async def test_non_image_attachment_is_refused_before_any_charge(world: World) -> None:
    async with world.running():
        notes = world.discord.add_attachment("notes.txt", b"hello", "text/plain")
        handle = await world.discord.slash("edit", options={"prompt": "x", "image": notes})
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "`notes.txt` is not a PNG, JPEG or WebP image." in refusal.content
        assert world.provider.count() == 0
        assert world.channel_messages() == []


async def test_corrupt_image_is_refused_by_name(world: World) -> None:
    async with world.running():
        broken = world.discord.add_attachment("cat.png", make_image("png")[:40], "image/png")
        handle = await world.discord.slash("edit", options={"prompt": "x", "image": broken})
        await handle.response()
        refusal = await handle.followup(0)
        assert "`cat.png` is corrupt or truncated." in refusal.content
        assert world.provider.count() == 0


async def test_context_menu_opens_a_modal_then_edits(world: World) -> None:
    async with world.running():
        posted = await world.discord.user_message(content="look", attachments=[photo()])
        menu = await world.discord.context_menu("Edit image", message=posted.message)
        submitted = await answer_modal(world, menu, "add a hat")
        job_id = job_id_in((await submitted.followup(0)).content)
        result = await world.result(job_id)
        assert result.attachments
        body = world.provider.last("submit").body
        assert body["input"]["prompt"] == "add a hat"
        assert body["input"]["image_urls"] == [posted.message.attachments[0].url]


async def test_context_menu_on_a_message_without_images(world: World) -> None:
    async with world.running():
        posted = await world.discord.user_message(content="just words")
        menu = await world.discord.context_menu("Edit image", message=posted.message)
        answer = await menu.response()
        assert answer.ephemeral
        assert "no image" in (answer.content or "")


async def test_reply_mentioning_the_bot_edits_the_replied_to_images(world: World) -> None:
    async with world.running():
        original = await world.discord.user_message(content="my cat", attachments=[photo()])
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make the sky purple",
            reference=original.message,
        )
        card = await reply.response()
        assert card.reference_id == reply.id  # the card answers the reply
        job_id = card.embeds[0]["footer"]["text"].split()[-1]
        result = await world.result(job_id)
        assert result.attachments
        body = world.provider.last("submit").body
        assert body["input"]["prompt"] == "make the sky purple"
        assert body["input"]["image_urls"] == [original.message.attachments[0].url]


async def test_reply_to_a_message_without_images_gets_a_hint(world: World) -> None:
    async with world.running():
        original = await world.discord.user_message(content="no picture here")
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make it purple", reference=original.message
        )
        answer = await reply.response()
        assert "no image" in answer.content
        assert world.provider.count() == 0


async def test_a_reply_ping_alone_does_nothing_an_explicit_mention_edits(world: World) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        first = job_id_in((await handle.followup(0)).content)
        result = await world.result(first)
        # A reply with "mention on" pings the bot without writing <@bot> in the text.
        ping = await world.discord.user_message(content="nice!", reference=result, mentions=["bot"])
        assert ping.delivered
        explicit = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make it darker", reference=result
        )
        card = await ping.response()  # the bot's first message after the ping...
        assert card.reference_id == explicit.id  # ...answers the explicit mention
        second = card.embeds[0]["footer"]["text"].split()[-1]
        assert second != first
        await world.result(second)
        assert world.provider.count("submit") == 2
        body = world.provider.last("submit").body
        assert body["input"]["prompt"] == "make it darker"
        assert body["input"]["image_urls"] == [result.attachments[0].url]
        assert await left_today(world) == "8 of 10"


async def left_today(world: World) -> str:
    answer = await (await world.discord.slash("status")).response()
    return {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}["Left today"]


async def test_context_menu_on_a_message_without_images_is_refused_privately(
    world: World,
) -> None:
    async with world.running():
        posted = await world.discord.user_message(content="just words")
        menu = await world.discord.context_menu("Edit image", message=posted.message)
        answer = await menu.response()
        assert answer.type == 4  # a message, not a modal
        assert answer.message is not None
        assert answer.message.ephemeral
        assert "That message has no image to edit." in (answer.message.content or "")
        assert world.provider.count() == 0
