"""The creative loop under a result: pick an image, then Vary, 4K, Edit or Use as reference;
Remix; each a job like any other (charged to the clicker, once, after a restart too)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.jobs import derived
from tests.e2e.harness import World, answer_modal, job_id_in, text_input_ids
from tests.fakes.discord_models import StoredMessage

PROMPT = "a red fox"


async def imagine(world: World, **options: Any) -> str:
    handle = await world.discord.slash("imagine", options={"prompt": PROMPT, **options})
    return job_id_in((await handle.followup(0)).content)


async def left_today(world: World) -> int:
    status = await world.discord.slash("status")
    fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
    return int(str(fields["Left today"]).split()[0])


async def panel(world: World, result: StoredMessage, job_id: str, index: int) -> StoredMessage:
    """Click image ``index``'s number under the result; the private panel of its actions."""
    click = await world.discord.click(result, f"sd:pick:{job_id}:{index}")
    callback = await click.response()
    assert callback.type == 4
    assert callback.data["flags"] & 64, "the panel is ephemeral"
    message = click.original
    assert message is not None
    return message


async def prompt_modal(world: World, opener: Any, prompt: str, ratio: str) -> tuple[Any, dict]:
    """Answer a Remix / Use as reference modal; (handle, the modal as the bot sent it)."""
    callback = await opener.response()
    assert callback.type == 9, f"expected a modal, got callback type {callback.type}"
    modal = callback.data
    prompt_id, ratio_id = text_input_ids(modal)
    handle = await world.discord.submit_modal(
        modal["custom_id"], {prompt_id: prompt, ratio_id: ratio}
    )
    return handle, modal


def prefilled(modal: dict) -> list[str]:
    """The values a modal's text inputs open with."""
    values: list[str] = []

    def walk(components: list[dict]) -> None:
        for component in components:
            if component.get("type") == 4:
                values.append(component.get("value") or "")
            walk(list(component.get("components", [])))
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    walk(list(modal.get("components", [])))
    return values


#: action → (model sent, n, size, how the prompt reads)
EXPECTED = {
    "vary_subtle": ("seedream-4.5-edit", 2, "2560x1440", derived.SUBTLE),
    "vary_strong": ("seedream-4.5-edit", 2, "2560x1440", derived.STRONG),
    "upscale": ("seedream-4.5-edit", 1, "5404x3040", derived.UPSCALE),
    "edit": ("seedream-4.5-edit", 1, "2560x1440", "now in winter"),
    "reference": ("seedream-4.5", 2, "2560x1440", "a fox in the snow"),
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
async def test_each_action_sends_exactly_the_picked_image(world: World, action: str) -> None:
    async with world.running():
        parent = await imagine(world, count=2, ratio="16:9", resolution="2K")
        result = await world.result(parent)
        assert result.find_component(f"sd:vary_subtle:{parent}:1") is None  # pick first
        actions = await panel(world, result, parent, 1)
        before = await left_today(world)
        posted_url = result.attachments[1].url
        world.discord.expire_attachment_urls()  # days later: only the message has a fresh URL

        click = await world.discord.click(actions, f"sd:{action}:{parent}:1")
        if action == "edit":
            click = await answer_modal(world, click, "now in winter")
        elif action == "reference":
            click, modal = await prompt_modal(world, click, "a fox in the snow", "16:9")
            assert prefilled(modal) == [PROMPT, "16:9"]
        child = job_id_in((await click.followup(0)).content)
        posted = await world.result(child)

        model, count, size, wording = EXPECTED[action]
        body = world.provider.last("submit").body
        fresh = world.discord.message(result.id).attachments[1].url
        assert fresh != posted_url
        assert body["model"] == model
        assert body["input"]["image_urls"] == [fresh]
        assert body["input"]["n"] == count
        assert body["input"]["size"] == size
        sent = body["input"]["prompt"]
        assert sent.startswith(wording)
        if action.startswith("vary") or action == "upscale":
            assert sent.endswith(f"{derived.ORIGINAL}{PROMPT}")
        assert len(posted.attachments) == count
        assert await left_today(world) == before - count
        row = world.job_row(child)
        assert row is not None
        assert (row["parent_job_id"], row["source_index"]) == (parent, 1)
        assert row["action"] == ("4k" if action == "upscale" else action)


async def test_one_image_offers_its_actions_directly_and_4k_only_below_the_top_tier(
    world: World,
) -> None:
    async with world.running():
        small = await imagine(world, resolution="2K")
        top = await imagine(world, resolution="4K")
        result = await world.result(small)
        for action in ("vary_subtle", "vary_strong", "upscale", "reference"):
            assert result.find_component(f"sd:{action}:{small}:0") is not None
        assert result.find_component(f"sd:pick:{small}:0") is None
        assert result.find_component(f"sd:remix:{small}") is not None
        at_top = await world.result(top)
        assert at_top.find_component(f"sd:vary_subtle:{top}:0") is not None
        assert at_top.find_component(f"sd:upscale:{top}:0") is None

        click = await world.discord.click(result, f"sd:upscale:{small}:0")
        child = job_id_in((await click.followup(0)).content)
        await world.result(child)
        body = world.provider.last("submit").body
        # no ratio asked: the image's own shape (the fake serves 64x48, so 4:3) at the top tier
        assert body["input"]["size"] == "4694x3520"
        assert body["input"]["image_urls"] == [world.discord.message(result.id).attachments[0].url]


async def test_remix_prefills_the_prompt_and_ratio_and_keeps_the_rest(world: World) -> None:
    async with world.running():
        parent = await imagine(world, count=2, ratio="3:4", resolution="4K")
        result = await world.result(parent)
        before = await left_today(world)
        opener = await world.discord.click(result, f"sd:remix:{parent}")
        submitted, modal = await prompt_modal(world, opener, "a blue fox", "3:4")
        assert prefilled(modal) == [PROMPT, "3:4"]
        child = job_id_in((await submitted.followup(0)).content)
        remixed = await world.result(child)
        assert remixed.embeds[0]["title"] == "Remix"
        body = world.provider.last("submit").body
        assert body["model"] == "seedream-4.5"
        assert body["input"] == {"prompt": "a blue fox", "n": 2, "size": "3520x4694"}
        assert await left_today(world) == before - 2

        opener = await world.discord.click(result, f"sd:remix:{parent}")
        submitted, _ = await prompt_modal(world, opener, "a blue fox", "1:1")
        await world.result(job_id_in((await submitted.followup(0)).content))
        assert world.provider.last("submit").body["input"]["size"] == "4096x4096"


async def test_a_double_click_makes_one_job(world: World) -> None:
    async with world.running():
        parent = await imagine(world)
        result = await world.result(parent)
        first = await world.discord.click(result, f"sd:vary_strong:{parent}:0")
        second = await world.discord.click(result, f"sd:vary_strong:{parent}:0")
        child = job_id_in((await first.followup(0)).content)
        assert "Already" in ((await second.response()).content or "")
        await world.result(child)
        assert world.provider.count("submit") == 2
        assert await left_today(world) == 10 - 2

        # a double click on Remix opens two forms; sent alike, they make one job
        forms = [await world.discord.click(result, f"sd:remix:{parent}") for _ in range(2)]
        first, _ = await prompt_modal(world, forms[0], "a blue fox", "")
        second, _ = await prompt_modal(world, forms[1], "a blue fox", "")
        await world.result(job_id_in((await first.followup(0)).content))
        assert "Already" in ((await second.response()).content or "")
        assert world.provider.count("submit") == 3


async def test_picking_and_acting_work_after_a_restart(world: World) -> None:
    async with world.running():
        parent = await imagine(world, count=2)
        result = await world.result(parent)
        actions = await panel(world, result, parent, 0)
    async with world.running():  # a new process: the same messages, the same buttons
        click = await world.discord.click(actions, f"sd:vary_subtle:{parent}:0")
        await world.result(job_id_in((await click.followup(0)).content))
        sent = world.provider.last("submit").body["input"]["image_urls"]
        assert sent == [world.discord.message(result.id).attachments[0].url]
        again = await panel(world, result, parent, 1)
        assert again.find_component(f"sd:reference:{parent}:1") is not None


@pytest.mark.parametrize("action", ["vary_subtle", "upscale", "remix"])
async def test_no_quota_left_is_refused_privately_and_changes_nothing(
    world: World, action: str
) -> None:
    async with world.running(default_daily_quota=1):
        parent = await imagine(world)
        result = await world.result(parent)
        submits = world.provider.count("submit")
        assert await left_today(world) == 0
        custom_id = f"sd:remix:{parent}" if action == "remix" else f"sd:{action}:{parent}:0"
        click = await world.discord.click(result, custom_id)
        if action == "remix":
            click, _ = await prompt_modal(world, click, "a blue fox", "")
        answer = await click.followup(0)
        assert answer.ephemeral
        assert "used your 1 image" in (answer.content or "")
        assert world.provider.count("submit") == submits
        assert await left_today(world) == 0
        assert len([m for m in world.channel_messages() if m.embeds]) == 1


async def test_an_image_whose_message_is_gone_is_refused_and_nothing_is_charged(
    world: World,
) -> None:
    async with world.running():
        parent = await imagine(world, count=2)
        result = await world.result(parent)
        actions = await panel(world, result, parent, 1)
        stored = world.discord.message(result.id)
        assert stored is not None
        stored.deleted = True
        before, submits = await left_today(world), world.provider.count("submit")
        click = await world.discord.click(actions, f"sd:vary_subtle:{parent}:1")
        answer = await click.followup(0)
        assert answer.ephemeral
        assert "That image is gone" in (answer.content or "")
        assert "Nothing was charged" in (answer.content or "")
        assert (await left_today(world), world.provider.count("submit")) == (before, submits)


async def test_fifteen_images_pick_through_select_menus_in_each_message(world: World) -> None:
    async with world.running(max_images_per_job=15, default_daily_quota=40):
        parent = await imagine(world, count=15)
        card = await world.result(parent)
        messages = [m for m in world.channel_messages() if m.attachments]
        assert sum(len(m.attachments) for m in messages) == 15
        overflow = next(m for m in messages if m.id != card.id)
        for message in messages:  # Discord accepted them: within its component limits
            assert message.find_component(f"sd:choose:{parent}") is not None
        first_in_overflow = len(card.attachments)
        pick = first_in_overflow + 2
        chosen = await world.discord.click(overflow, f"sd:choose:{parent}", values=[str(pick)])
        assert (await chosen.response()).data["flags"] & 64
        actions = chosen.original
        assert actions is not None
        assert f"Image {pick + 1} of job" in (actions.content or "")
        click = await world.discord.click(actions, f"sd:vary_subtle:{parent}:{pick}")
        await world.result(job_id_in((await click.followup(0)).content), timeout=20)
        sent = world.provider.last("submit").body["input"]["image_urls"]
        assert sent == [world.discord.message(overflow.id).attachments[2].url]


async def test_status_shows_the_parent_the_action_and_the_children(world: World) -> None:
    async with world.running():
        parent = await imagine(world, count=2)
        result = await world.result(parent)
        actions = await panel(world, result, parent, 1)
        click = await world.discord.click(actions, f"sd:vary_strong:{parent}:1")
        child = job_id_in((await click.followup(0)).content)
        child_result = await world.result(child)
        assert len(child_result.attachments) == 2  # a variation makes as many as its parent
        child_actions = await panel(world, child_result, child, 0)
        click = await world.discord.click(child_actions, f"sd:vary_subtle:{child}:0")
        grandchild = job_id_in((await click.followup(0)).content)
        await world.result(grandchild)

        status = await world.discord.slash("status", options={"job": child})
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        guild, channel = world.discord.guild.id, world.discord.channel.id
        assert fields["Came from"] == (
            f"Vary (strong) of image 2 of job "
            f"[`{parent}`](https://discord.com/channels/{guild}/{channel}/{result.id})"
        )
        link = f"https://discord.com/channels/{guild}/{channel}"
        assert f"`{grandchild}`]({link}/" in fields["Made from it"]
        assert "Vary (subtle) of image 1" in fields["Made from it"]

        status = await world.discord.slash("status", options={"job": grandchild})
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Chain"] == f"`{parent}` → `{child}` → **`{grandchild}`**"
