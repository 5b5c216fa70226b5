"""Any W:H ratio, exact sizes, and edits that keep their source's shape, end to end."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.e2e.harness import World, job_id_in
from tests.e2e.test_image_prompts import MakeWorld, left_today, picture, refusal, world_of

__all__ = ["world_of"]  # the fixture, shared


async def submitted(world: World, command: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run a command to its result; the body the provider received."""
    handle = await world.discord.slash(command, options=options)
    await world.result(job_id_in((await handle.followup(0)).content))
    body: dict[str, Any] = world.provider.last("submit").body
    return body


async def test_any_ratio_becomes_pixels_of_that_ratio(world: World) -> None:
    async with world.running():
        body = await submitted(world, "imagine", {"prompt": "x", "ratio": "5:4"})
        assert body["input"]["size"] == "2288x1832"
        body = await submitted(world, "imagine", {"prompt": "x", "ratio": "16:9"})
        assert body["input"]["size"] == "16:9"  # a preset stays a preset


async def test_exact_size_reaches_the_provider(world: World) -> None:
    async with world.running():
        body = await submitted(world, "imagine", {"prompt": "x", "size": "2560x1440"})
        assert body["input"]["size"] == "2560x1440"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ratio": "40:1"}, "`40:1` is too narrow or too wide; Seedream 4.5 takes 1:16 to 16:1."),
        ({"ratio": "wide"}, "`wide` is not a ratio; give W:H in whole numbers"),
        ({"ratio": "5:4", "model": "seedream-4"}, "`5:4` is not offered by Seedream 4.0 here."),
        ({"size": "100x100"}, "100x100 is 10,000 pixels; Seedream 4.5 takes 3,686,400 to"),
        ({"size": "8500x500"}, "Seedream 4.5 takes ratios 1:16 to 16:1."),
        ({"size": "big"}, "`big` is not WIDTHxHEIGHT, e.g. 2048x2048."),
        ({"size": "2560x1440", "ratio": "1:1"}, "give an exact size or a ratio, not both."),
    ],
)
async def test_every_bound_is_refused_before_any_request(
    world: World, options: dict[str, Any], expected: str
) -> None:
    async with world.running():
        text = await refusal(world, "imagine", {"prompt": "x"} | options)
        assert expected in text
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"


async def test_pixazo_guidance_and_random_seed_on_the_model_that_takes_them(
    world_of: MakeWorld,
) -> None:
    async with world_of("pixazo") as world, world.running():
        model = "seedream-3-0-t2i-250415"
        options = {"prompt": "x", "model": model, "seed": -1, "guidance": 2.5}
        body = await submitted(world, "imagine", options)
        assert body["seed"] == -1
        assert body["guidance_scale"] == 2.5
        assert body["size"] == "1024x1024"
        text = await refusal(world, "imagine", {"prompt": "x", "guidance": 3.0})
        assert "Seedream 4.5 here takes no guidance scale." in text
        text = await refusal(world, "imagine", {"prompt": "x", "model": model, "size": "4096x4096"})
        assert "takes 262,144 to 4,194,304." in text
        assert world.provider.count("submit") == 1


async def test_pixazo_keeps_to_the_documented_size_range(world_of: MakeWorld) -> None:
    async with world_of("pixazo") as world, world.running():
        text = await refusal(world, "imagine", {"prompt": "x", "resolution": "4K"})
        assert "`4K` is not offered by Seedream 4.5." in text
        text = await refusal(world, "imagine", {"prompt": "x", "size": "4096x4096"})
        assert "Seedream 4.5 takes 3,686,400 to 4,194,304." in text
        assert world.provider.count() == 0


async def test_apikley_states_tier_count_and_square(world_of: MakeWorld) -> None:
    async with world_of("apikley") as world, world.running():
        model = "bytedance/seedream-v4-text-to-image"
        body = await submitted(world, "imagine", {"prompt": "two cats", "model": model, "count": 3})
        fields = body["input"]
        assert fields["image_resolution"] == "2K"  # sent: Apikley's own default is 1K
        assert fields["image_size"] == "square_hd"
        assert fields["max_images"] == 3
        assert fields["prompt"] == "two cats Generate exactly 3 images."
        body = await submitted(
            world, "imagine", {"prompt": "a cat", "model": model, "resolution": "1K"}
        )
        assert body["input"]["image_size"] == "square"
        assert body["input"]["prompt"] == "a cat"


async def test_an_edit_keeps_its_source_shape_on_pixazo(world_of: MakeWorld) -> None:
    async with world_of("pixazo") as world, world.running():
        image = picture(world, "photo.png", (800, 600))
        body = await submitted(world, "edit", {"prompt": "x", "image": image})
        assert body["size"] == "2304x1728"  # 4:3 at 2K, not 2048x2048


async def test_an_edit_keeps_its_source_shape_on_apikley(world_of: MakeWorld) -> None:
    async with world_of("apikley") as world, world.running():
        image = picture(world, "photo.png", (800, 600))
        body = await submitted(world, "edit", {"prompt": "x", "image": image})
        assert body["input"]["aspect_ratio"] == "4:3"  # not 1:1
        image = picture(world, "odd.png", (1000, 700))  # 10:7: snapped to the nearest, 3:2
        body = await submitted(world, "edit", {"prompt": "x", "image": image})
        assert body["input"]["aspect_ratio"] == "3:2"


async def test_an_edit_asks_for_the_exact_size_where_the_model_takes_it(world: World) -> None:
    async with world.running():
        image = picture(world, "big.jpg", (2400, 1800), fmt="JPEG")
        body = await submitted(world, "edit", {"prompt": "x", "image": image})
        assert body["input"]["size"] == "2400x1800"
        small = picture(world, "odd.png", (1000, 700))  # too few pixels: its ratio at 2K
        body = await submitted(world, "edit", {"prompt": "x", "image": small})
        assert body["input"]["size"] == "2448x1712"
        body = await submitted(world, "edit", {"prompt": "x", "image": small, "ratio": "1:1"})
        assert body["input"]["size"] == "1:1"  # an explicit ratio wins


async def test_a_reply_edit_keeps_its_source_shape(world: World) -> None:
    async with world.running():
        posted = await world.discord.user_message(
            content="mine", attachments=[("wide.png", _png((1600, 900)), "image/png")]
        )
        reply = await world.discord.user_message(
            content=f"{world.discord.bot_mention} add snow", reference=posted.message
        )
        card = await reply.response()
        await world.result(card.embeds[0]["footer"]["text"].split()[-1])
        assert world.provider.last("submit").body["input"]["size"] == "16:9"


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_ratio_autocomplete_offers_a_typed_ratio_back(world: World) -> None:
    async with world.running():
        auto = await world.discord.autocomplete("imagine", focused="ratio", value="5:4")
        offered = [c["value"] for c in (await auto.response()).data["choices"]]
        assert offered == ["5:4"]
        auto = await world.discord.autocomplete("blend", focused="ratio", value="16:9")
        offered = [c["value"] for c in (await auto.response()).data["choices"]]
        assert offered == ["16:9"]
