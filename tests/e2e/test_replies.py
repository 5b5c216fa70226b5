"""The one error path (``bot.discord.replies``): once the interaction token is gone, the
member still hears what went wrong, in the channel with a mention."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import World
from tests.providers.fakes import make_image


async def test_an_error_after_the_token_expired_reaches_the_member_in_the_channel(
    world: World,
) -> None:
    async with world.running():
        broken = world.discord.add_attachment("cat.png", make_image("png")[:40], "image/png")
        handle = await world.discord.slash("edit", options={"prompt": "x", "image": broken})

        def expire(_: Any) -> bool:  # Discord's 15 minutes pass while the image is read
            world.discord.expire_token(handle)
            return True

        world.discord.on_request("GET", r"/(?:ephemeral-)?attachments/.*", expire)
        await handle.response()  # deferred
        said = await world.wait(
            lambda: [m for m in world.channel_messages() if "corrupt" in m.content]
        )
        [message] = said
        member = world.discord.user
        assert message.content.startswith(f"<@{member.id}> ")
        assert "`cat.png` is corrupt or truncated." in message.content
        assert not message.ephemeral
        assert handle.followups == []  # the followup was refused: the token was gone
        assert world.provider.count() == 0


async def test_while_the_token_lives_the_error_stays_private(world: World) -> None:
    async with world.running():
        broken = world.discord.add_attachment("cat.png", make_image("png")[:40], "image/png")
        handle = await world.discord.slash("edit", options={"prompt": "x", "image": broken})
        await handle.response()
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "`cat.png` is corrupt or truncated." in refusal.content
        assert world.channel_messages() == []
