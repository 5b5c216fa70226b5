"""What the door knew (upload limit, the message to reply to) is kept with the job in the
ledger, so a job resumed by a new process posts exactly as the first one would have."""

from __future__ import annotations

import discord
import pytest

from tests.e2e.harness import World, job_id_in
from tests.e2e.test_edit import photo
from tests.e2e.test_imagine import noisy_png


async def test_a_resumed_job_keeps_the_upload_limit_of_its_door(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = noisy_png(768)  # far above the limit below, well under the guild's 10 MiB
    monkeypatch.setattr(world.provider, "_image_bytes", lambda index: big)
    world.provider.script.finish_after = 1.0
    limit = 200_000
    async with world.running():
        handle = await world.discord.slash(
            "imagine", options={"prompt": "static"}, attachment_size_limit=limit
        )
        job_id = job_id_in((await handle.followup(0)).content)
        await world.wait(lambda: world.provider.count("submit") == 1)
    row = world.job_row(job_id)
    assert row is not None
    assert row["charged"] is None  # still in flight when the process stopped
    assert row["upload_limit"] == limit

    async with world.running():  # a new process: only the ledger remembers the door
        result = await world.result(job_id)
    assert result.attachments
    assert all(a.size <= limit for a in result.attachments)


async def test_the_reply_door_keeps_the_message_its_card_answers(world: World) -> None:
    async with world.running():
        original = await world.discord.user_message(content="my cat", attachments=[photo()])
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make it night", reference=original.message
        )
        card = await reply.response()
        assert card.reference_id == reply.id
        job_id = card.embeds[0]["footer"]["text"].split()[-1]
        row = await world.settled(job_id)
    assert row["reply_to_message_id"] == reply.id
    # a message carries no upload limit: the guild's, as discord.py reads it (no boosts)
    assert row["upload_limit"] == discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
