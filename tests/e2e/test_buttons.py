"""The buttons under results and cards, including after a restart."""

from __future__ import annotations

import discord

from tests.e2e.harness import World, answer_modal, job_id_in


async def imagine(world: World, prompt: str = "a red fox", user: object = None) -> str:
    handle = await world.discord.slash("imagine", user=user, options={"prompt": prompt})
    return job_id_in((await handle.followup(0)).content)


async def test_reroll_creates_one_new_job_even_on_a_double_click(world: World) -> None:
    async with world.running():
        job_id = await imagine(world)
        result = await world.result(job_id)
        first = await world.discord.click(result, f"sd:reroll:{job_id}")
        second = await world.discord.click(result, f"sd:reroll:{job_id}")
        new_id = job_id_in((await first.followup(0)).content)
        assert new_id != job_id
        assert "Already" in ((await second.response()).content or "")
        rerolled = await world.result(new_id)
        assert rerolled.embeds[0]["title"] == "Re-roll"
        assert world.provider.count("submit") == 2


async def test_edit_button_asks_for_an_instruction_and_uses_that_image(world: World) -> None:
    async with world.running():
        job_id = await imagine(world)
        result = await world.result(job_id)
        opener = await world.discord.click(result, f"sd:edit:{job_id}")
        submitted = await answer_modal(world, opener, "now in winter")
        new_id = job_id_in((await submitted.followup(0)).content)
        await world.result(new_id)
        body = world.provider.last("submit").body
        assert body["input"]["image_urls"] == [result.attachments[0].url]


async def test_delete_is_for_the_requester_or_a_moderator(world: World) -> None:
    async with world.running():
        job_id = await imagine(world)
        result = await world.result(job_id)
        stranger = world.discord.add_member(name="stranger")
        refused = await world.discord.click(result, f"sd:delete:{job_id}", user=stranger)
        assert "Only the member" in ((await refused.response()).content or "")
        assert not world.discord.message(result.id).deleted

        moderator = world.discord.add_member(name="mod", roles=[world.discord.moderator_role])
        allowed = await world.discord.click(result, f"sd:delete:{job_id}", user=moderator)
        assert "Deleted" in (await allowed.followup(0)).content
        assert world.discord.message(result.id).deleted


async def test_cancel_a_waiting_job_refunds_it(world: World) -> None:
    world.provider.script.finish_after = 2.0
    async with world.running(max_jobs_per_user=1):
        first = await imagine(world, "first")
        second = await imagine(world, "second")  # waits behind the first
        card = await world.wait(lambda: world.card(second))
        assert card.find_component(f"sd:cancel:{second}") is not None
        cancel = await world.discord.click(card, f"sd:cancel:{second}")
        assert "refunded" in (await cancel.followup(0)).content
        cancelled = await world.wait(
            lambda: "Cancelled" in world.card(second).embeds[0]["title"] and world.card(second)
        )
        assert cancelled.find_component(f"sd:cancel:{second}") is None
        await world.result(first)
        status = await world.discord.slash("status")
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Left today"] == "9 of 10"


async def test_buttons_keep_working_after_a_restart(world: World) -> None:
    async with world.running():
        job_id = await imagine(world)
        result = await world.result(job_id)
    async with world.running():  # a new process's worth of objects, same database
        click = await world.discord.click(result, f"sd:reroll:{job_id}")
        new_id = job_id_in((await click.followup(0)).content)
        await world.result(new_id)


async def test_manage_messages_alone_does_not_make_a_moderator(world: World) -> None:
    """One rule everywhere (README): a moderator has Manage Server, for /quota, /blocklist
    and for deleting or cancelling someone else's job alike."""
    helpers = world.discord.add_role("Helpers", discord.Permissions(manage_messages=True).value)
    helper = world.discord.add_member(name="helper", roles=[helpers])
    world.provider.script.finish_after = 2.0
    async with world.running(max_jobs_per_user=1):
        await imagine(world, "first")
        waiting = await imagine(world, "second")  # waits behind the first
        card = await world.wait(lambda: world.card(waiting))
        refused = await world.discord.click(card, f"sd:cancel:{waiting}", user=helper)
        assert "No such job" in ((await refused.followup(0)).content or "")
        blocklist = await world.discord.slash("blocklist list", user=helper)
        assert "Manage Server" in ((await blocklist.response()).content or "")

        moderator = world.discord.add_member(name="mod", roles=[world.discord.moderator_role])
        allowed = await world.discord.click(card, f"sd:cancel:{waiting}", user=moderator)
        assert "cancelled" in (await allowed.followup(0)).content


async def test_a_helper_with_manage_messages_cannot_delete_someone_elses_result(
    world: World,
) -> None:
    helpers = world.discord.add_role("Helpers", discord.Permissions(manage_messages=True).value)
    helper = world.discord.add_member(name="helper", roles=[helpers])
    async with world.running():
        job_id = await imagine(world)
        result = await world.result(job_id)
        refused = await world.discord.click(result, f"sd:delete:{job_id}", user=helper)
        assert "Only the member" in ((await refused.response()).content or "")
        assert not world.discord.message(result.id).deleted
