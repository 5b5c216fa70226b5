"""ALLOWED_GUILD_IDS through the real doors: the bot leaves other servers at start and on join,
and every door refuses a server that is not on the list before any work or charge."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from bot.discord.checks import SERVER_NOT_ALLOWED
from tests.e2e.harness import World, answer_modal, job_id_in
from tests.e2e.test_edit import photo
from tests.e2e.test_moderation import audit, moderator
from tests.fakes.discord_models import InteractionCallback

ELSEWHERE = frozenset({4242})


def left(world: World) -> list[int]:
    return world.discord.left_guild_ids


def leave_requests(world: World) -> int:
    return len(world.discord.requests_to("DELETE", r"^/users/@me/guilds/\d+$"))


def assert_refused(answer: InteractionCallback) -> None:
    assert answer.type == 4, f"expected a message, got callback type {answer.type}"
    assert answer.ephemeral
    assert answer.content == SERVER_NOT_ALLOWED


async def nothing_happened(world: World, *, bot_messages: int = 0) -> None:
    """No job, no download, no provider call, no public message."""
    await world.discord.settle()
    assert world.provider.count() == 0
    assert len(world.channel_messages()) == bot_messages
    assert world.bot is not None
    jobs = await world.bot.jobs.recent_jobs(world.discord.guild.id, world.discord.user.id)
    assert jobs == []


async def test_an_unlisted_server_is_left_at_start_with_one_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    async with world.running(allowed_guild_ids=ELSEWHERE):
        guild_id = world.discord.guild.id
        await world.wait(lambda: left(world) == [guild_id])
        # discord.py digests the GUILD_DELETE the fake sends back
        await world.wait(lambda: world.bot is not None and world.bot.get_guild(guild_id) is None)
    lines = [r.getMessage() for r in caplog.records if "ALLOWED_GUILD_IDS" in r.getMessage()]
    assert len(lines) == 1
    assert str(guild_id) in lines[0]
    assert "Leaving server" in lines[0]
    assert leave_requests(world) == 1


async def test_a_listed_server_stays_and_an_unlisted_one_joining_is_left(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    async with world.running(allowed_guild_ids=frozenset({world.discord.guild.id})):
        stranger = await world.discord.join_guild("Free Credits Inc")
        await world.wait(lambda: left(world) == [stranger])
        job_id_in(await _imagine_answer(world))  # the listed server still works
    assert leave_requests(world) == 1
    lines = [r.getMessage() for r in caplog.records if "ALLOWED_GUILD_IDS" in r.getMessage()]
    assert len(lines) == 1
    assert str(stranger) in lines[0]
    assert "Free Credits Inc" in lines[0]


async def test_without_a_list_any_server_may_stay_and_the_start_log_warns(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    async with world.running():
        await world.discord.join_guild()
        await world.discord.settle()
    assert leave_requests(world) == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "ALLOWED_GUILD_IDS is unset" in r.getMessage() and "any server" in r.getMessage()
        for r in warnings
    )


async def _imagine_answer(world: World, user: object = None) -> str:
    handle = await world.discord.slash("imagine", user=user, options={"prompt": "a red fox"})
    await handle.response()
    return (await handle.followup(0)).content or ""


async def test_slash_commands_and_autocomplete_are_refused_before_any_work(world: World) -> None:
    async with world.running(allowed_guild_ids=ELSEWHERE):
        imagine = await world.discord.slash("imagine", options={"prompt": "a red fox"})
        assert_refused(await imagine.response())
        upload = world.discord.add_attachment(*photo())
        edit = await world.discord.slash("edit", options={"prompt": "purple", "image": upload})
        assert_refused(await edit.response())
        status = await world.discord.slash("status")
        assert_refused(await status.response())
        mod = moderator(world)
        quota = await world.discord.slash("quota defaults", user=mod, options={"daily": "100"})
        assert_refused(await quota.response())
        assert await audit(world) == []
        models = await world.discord.autocomplete("imagine", "model", "", options={})
        answer = await models.response()
        assert answer.type == 8
        assert (answer.data or {})["choices"] == []
        await nothing_happened(world)
        # the upload was never fetched
        assert not world.discord.requests_to("GET", r".*attachments/.*")


async def test_the_context_menu_is_refused_without_opening_its_modal(world: World) -> None:
    async with world.running(allowed_guild_ids=ELSEWHERE):
        posted = await world.discord.user_message(content="look", attachments=[photo()])
        menu = await world.discord.context_menu("Edit image", message=posted.message)
        assert_refused(await menu.response())
        await nothing_happened(world)


async def test_buttons_on_an_old_result_are_refused_once_the_server_is_unlisted(
    world: World,
) -> None:
    async with world.running():
        job_id = job_id_in(await _imagine_answer(world))
        result = await world.result(job_id)
    submits = world.provider.count("submit")
    async with world.running(allowed_guild_ids=ELSEWHERE):
        for action in ("reroll", "edit", "delete"):
            click = await world.discord.click(result, f"sd:{action}:{job_id}")
            assert_refused(await click.response())
        await world.discord.settle()
        assert world.provider.count("submit") == submits
        assert not world.discord.message(result.id).deleted
        assert world.bot is not None
        jobs = await world.bot.jobs.recent_jobs(world.discord.guild.id, world.discord.user.id)
        assert [j.id for j in jobs] == [job_id]


async def test_a_modal_submitted_from_an_unlisted_server_is_refused(world: World) -> None:
    """Modals only open behind a gated door; the submit is gated too (defence in depth)."""
    async with world.running():
        assert world.bot is not None
        posted = await world.discord.user_message(content="look", attachments=[photo()])
        menu = await world.discord.context_menu("Edit image", message=posted.message)
        await world.discord.settle()
        world.bot.config = dataclasses.replace(world.bot.config, allowed_guild_ids=ELSEWHERE)
        submitted = await answer_modal(world, menu, "add a hat")
        assert_refused(await submitted.response())
        await nothing_happened(world)


async def test_a_reply_mentioning_the_bot_in_an_unlisted_server_does_nothing(
    world: World,
) -> None:
    async with world.running(allowed_guild_ids=ELSEWHERE):
        original = await world.discord.user_message(content="my cat", attachments=[photo()])
        await world.discord.user_message(
            content=f"{world.discord.bot_mention} make the sky purple",
            reference=original.message,
        )
        # a later interaction is answered, so the reply before it has been handled
        barrier = await world.discord.slash("status")
        assert_refused(await barrier.response())
        with pytest.raises(TimeoutError):
            await world.wait(lambda: world.channel_messages(), timeout=1.0)
        await nothing_happened(world)
        assert not world.discord.requests_to("GET", r".*attachments/.*")
