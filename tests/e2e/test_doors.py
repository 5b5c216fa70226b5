"""Checks before work on every door: refusals before any download, bounded image checks,
and the member's own permission to post where the bot would post."""

from __future__ import annotations

import functools
import io
import struct
import threading
import time
import zlib
from typing import Any

import pytest
from PIL import Image

import bot.images.validate
from bot.images.validate import ImageInfo
from tests.e2e.harness import World, answer_modal, job_id_in
from tests.fakes.discord_models import FakeMember, RecordedRequest
from tests.providers.fakes import make_image

CDN = r"/(?:media-proxy/)?(?:ephemeral-)?attachments/.*"
ATTACH_FILES = 1 << 15
EMBED_LINKS = 1 << 14
SEND_MESSAGES = 1 << 11


def cdn_fetches(world: World) -> list[RecordedRequest]:
    """Every download from the fake Discord's attachment CDN."""
    return world.discord.requests_to("GET", CDN)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


@functools.cache
def huge_png(side: int = 8192) -> bytes:
    """A real, complete side×side black RGB PNG (small on disk: it compresses to ~200 KB)."""
    packer = zlib.compressobj(9)
    rows = bytes(1 + side * 3) * 64
    stream = [packer.compress(rows) for _ in range(side // 64)] + [packer.flush()]
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(stream))
        + _png_chunk(b"IEND", b"")
    )


def ten_huge_pngs() -> list[tuple[str, bytes, str]]:
    return [(f"huge{i}.png", huge_png(), "image/png") for i in range(10)]


def moderator(world: World) -> FakeMember:
    return world.discord.add_member(name="mod", roles=[world.discord.moderator_role])


async def mod_says(world: World, name: str, /, **options: Any) -> None:
    handle = await world.discord.slash(name, user=moderator(world), options=options)
    answer = await handle.response()
    assert answer.ephemeral, answer.content


async def block(world: World, member: Any) -> None:
    await mod_says(world, "quota block", user=member, reason="spam")


async def spend_allowance(world: World, member: Any) -> None:
    await mod_says(world, "quota set", user=member, daily="0")


async def left_today(world: World, member: Any = None) -> str:
    answer = await (await world.discord.slash("status", user=member)).response()
    return {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}["Left today"]


# ------------------------------------------------------------------ refusals before downloads


async def test_a_blocked_member_replying_with_ten_huge_images_makes_the_bot_fetch_nothing(
    world: World,
) -> None:
    async with world.running():
        await block(world, world.discord.user)
        original = await world.discord.user_message(content="mine", attachments=ten_huge_pngs())
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make them purple", reference=original.message
        )
        answer = await reply.response()
        assert "blocked from generating" in answer.content
        assert cdn_fetches(world) == []
        assert world.provider.count() == 0


async def test_a_member_over_quota_replying_with_ten_images_makes_the_bot_fetch_nothing(
    world: World,
) -> None:
    async with world.running():
        await spend_allowance(world, world.discord.user)
        original = await world.discord.user_message(content="mine", attachments=ten_huge_pngs())
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make them purple", reference=original.message
        )
        answer = await reply.response()
        assert "allowance" in answer.content
        assert cdn_fetches(world) == []
        assert world.provider.count() == 0


async def test_slash_edit_over_quota_fetches_nothing(world: World) -> None:
    async with world.running():
        await spend_allowance(world, world.discord.user)
        uploads = [world.discord.add_attachment(*image) for image in ten_huge_pngs()[:4]]
        options = dict(zip(["image", "image2", "image3", "image4"], uploads, strict=True))
        handle = await world.discord.slash("edit", options={"prompt": "purple", **options})
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "allowance" in refusal.content
        assert cdn_fetches(world) == []


async def test_a_blocked_member_using_the_menu_or_the_edit_button_fetches_nothing(
    world: World,
) -> None:
    async with world.running():
        imagined = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        job_id = job_id_in((await imagined.followup(0)).content)
        result = await world.result(job_id)
        posted = await world.discord.user_message(content="look", attachments=ten_huge_pngs())
        await block(world, world.discord.user)
        fetched = len(cdn_fetches(world))

        menu = await world.discord.context_menu("Edit image", message=posted.message)
        from_menu = await answer_modal(world, menu, "add a hat")
        assert "blocked from generating" in (await from_menu.followup(0)).content

        button = await world.discord.click(result, f"sd:edit:{job_id}")
        from_button = await answer_modal(world, button, "now in winter")
        assert "blocked from generating" in (await from_button.followup(0)).content

        assert len(cdn_fetches(world)) == fetched
        assert world.provider.count("submit") == 1


async def test_a_blocked_member_rerolling_an_edit_fetches_nothing(world: World) -> None:
    """Re-roll re-reads an edit's references (their URLs may have expired): not when refused."""
    async with world.running():
        original = await world.discord.user_message(content="cat", attachments=ten_huge_pngs()[:1])
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make it purple", reference=original.message
        )
        edit_id = (await reply.response()).embeds[0]["footer"]["text"].split()[-1]
        edited = await world.result(edit_id)
        await block(world, world.discord.user)
        fetched = len(cdn_fetches(world))

        click = await world.discord.click(edited, f"sd:reroll:{edit_id}")
        assert "blocked from generating" in (await click.followup(0)).content
        assert len(cdn_fetches(world)) == fetched
        assert world.provider.count("submit") == 1


# ------------------------------------------------------------------ bounded image checks


async def test_reference_checks_run_at_most_two_at_once_bot_wide(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    calls = 0
    real = bot.images.validate.inspect_image

    def counted(data: bytes, **kwargs: Any) -> ImageInfo:
        nonlocal running, peak, calls
        with lock:
            running += 1
            calls += 1
            peak = max(peak, running)
        try:
            time.sleep(0.1)  # long enough for the other checks to pile up behind this one
            return real(data, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(bot.images.validate, "inspect_image", counted)
    async with world.running():
        bob = world.discord.add_member(name="bob")
        handles = []
        for who, member in enumerate((world.discord.user, bob)):
            uploads = [
                world.discord.add_attachment(f"{who}-{i}.png", make_image("png", i))
                for i in range(4)
            ]
            options = dict(zip(["image", "image2", "image3", "image4"], uploads, strict=True))
            handles.append(
                await world.discord.slash(
                    "edit", user=member, options={"prompt": "purple", **options}
                )
            )
        for handle in handles:
            job_id_in((await handle.followup(0)).content)
    assert calls == 8
    assert peak <= 2


async def test_a_webp_too_large_to_decode_is_refused_by_name(world: World) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (5000, 5000), "navy").save(buffer, "WEBP")
    async with world.running():
        upload = world.discord.add_attachment("big.webp", buffer.getvalue(), "image/webp")
        handle = await world.discord.slash("edit", options={"prompt": "x", "image": upload})
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "`big.webp` is too large: 5000×5000 pixels" in refusal.content
        assert "megapixels for a WebP image" in refusal.content
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"


# ------------------------------------------------------------------ the member's permissions


async def test_a_member_who_cannot_attach_files_cannot_make_the_bot_post(world: World) -> None:
    async with world.running():
        alice = world.discord.user
        await world.discord.set_channel_permissions(target=alice, deny=ATTACH_FILES)
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        refusal = await handle.followup(0)
        assert refusal.ephemeral
        assert "You can't post images in this channel" in refusal.content
        assert "Attach Files" in refusal.content
        assert "Nothing was charged" in refusal.content
        assert world.provider.count() == 0
        assert world.channel_messages() == []
        assert await left_today(world) == "10 of 10"


async def test_rerolling_someone_elses_result_needs_the_right_to_post_there(
    world: World,
) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        muted = world.discord.add_member(name="muted")
        await world.discord.set_channel_permissions(target=muted, deny=EMBED_LINKS)
        click = await world.discord.click(result, f"sd:reroll:{job_id}", user=muted)
        refusal = await click.followup(0)
        assert refusal.ephemeral
        assert "Embed Links" in refusal.content
        assert world.provider.count("submit") == 1
        assert await left_today(world, muted) == "10 of 10"


async def test_the_menu_and_the_edit_button_refuse_at_once_without_send_messages(
    world: World,
) -> None:
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        reader = world.discord.add_member(name="reader")
        await world.discord.set_channel_permissions(target=reader, deny=SEND_MESSAGES)

        menu = await world.discord.context_menu("Edit image", user=reader, message=result)
        button = await world.discord.click(result, f"sd:edit:{job_id}", user=reader)
        for opener in (menu, button):
            answer = await opener.response()  # no modal: nothing to type for nothing
            assert answer.ephemeral
            assert "You can't post images in this channel" in (answer.content or "")
            assert "Send Messages" in (answer.content or "")
        assert cdn_fetches(world) == []
        assert world.provider.count("submit") == 1


async def test_a_reply_from_a_member_who_cannot_attach_files_is_refused(world: World) -> None:
    async with world.running():
        alice = world.discord.user
        original = await world.discord.user_message(
            content="mine", attachments=[("a.png", make_image())]
        )
        await world.discord.set_channel_permissions(target=alice, deny=ATTACH_FILES)
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} make it purple", reference=original.message
        )
        answer = await reply.response()
        assert "You can't post images in this channel" in answer.content
        assert "Attach Files" in answer.content
        assert cdn_fetches(world) == []
        assert world.provider.count() == 0
