"""Image prompts in /imagine and /blend, through the fake Discord to the fake providers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cogs.blend import DEFAULT_BLEND_PROMPT
from tests.e2e.harness import World, job_id_in, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script

MakeWorld = Callable[[str], AbstractAsyncContextManager[World]]
CDN = r"/(ephemeral-)?attachments/.*"


@pytest.fixture
def world_of(tmp_path: Path) -> MakeWorld:
    """A fake Discord with a fake provider of any flavor."""

    @asynccontextmanager
    async def make(flavor: str) -> AsyncIterator[World]:
        async with (
            FakeDiscord(heartbeat_interval_ms=1000) as discord,
            FakeProvider(flavor, script=Script(finish_after=0.2)) as provider,
        ):
            yield World(discord=discord, provider=provider, settings=make_settings(tmp_path))
            assert not discord.unhandled, discord.unhandled

    return make


def picture(world: World, name: str, size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> Any:
    """An attachment of ``size`` pixels in ``fmt`` on the fake CDN."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 200)).save(buffer, fmt)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    return world.discord.add_attachment(name, buffer.getvalue(), mime)


async def left_today(world: World) -> str:
    answer = await (await world.discord.slash("status")).response()
    return {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}["Left today"]


async def refusal(world: World, command: str, options: dict[str, Any]) -> str:
    handle = await world.discord.slash(command, options=options)
    await handle.response()
    answer = await handle.followup(0)
    assert answer.ephemeral
    return answer.content or ""


async def test_imagine_image_prompts_go_to_the_base_model_as_references(world: World) -> None:
    async with world.running():
        first, second = picture(world, "a.png"), picture(world, "b.png")
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a castle", "image": first, "image2": second}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        await world.result(job_id)
        body = world.provider.last("submit").body
        # PoYo's seedream-4.5 takes references itself: no switch to the edit model
        assert body["model"] == "seedream-4.5"
        assert body["input"]["image_urls"] == [first["url"], second["url"]]
        assert body["input"]["prompt"] == "a castle"
        assert len(world.discord.requests_to("GET", CDN)) == 2  # each checked once
        assert await left_today(world) == "9 of 10"


async def test_poyo_seedream_4_takes_references_on_the_text_to_image_model(world: World) -> None:
    async with world.running():
        ref = picture(world, "a.png")
        handle = await world.discord.slash(
            "imagine", options={"prompt": "a castle", "image": ref, "model": "seedream-4"}
        )
        await world.result(job_id_in((await handle.followup(0)).content))
        body = world.provider.last("submit").body
        # "seedream-4 - Text-to-image generation, optionally with reference images" (000, l.42)
        assert body["model"] == "seedream-4"
        assert body["input"]["image_urls"] == [ref["url"]]


async def test_one_image_too_many_is_refused_before_any_download(world: World) -> None:
    # an unknown configured model gets one reference at most (generic caps)
    async with world.running(provider_model="seedream-next"):
        options = {
            "prompt": "x",
            "image": picture(world, "a.png"),
            "image2": picture(world, "b.png"),
        }
        text = await refusal(world, "imagine", options)
        assert "2 reference images given; seedream-next takes at most 1." in text
        assert world.discord.requests_to("GET", CDN) == []
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"


async def test_references_on_a_model_without_them_are_refused_by_name(world_of: MakeWorld) -> None:
    async with world_of("pixazo") as world, world.running():
        options = {"prompt": "x", "image": picture(world, "a.png")}
        text = await refusal(world, "imagine", options | {"model": "seedream-3-0-t2i-250415"})
        assert "takes no reference images" in text
        assert world.discord.requests_to("GET", CDN) == []
        assert world.provider.count() == 0


async def test_blend_combines_the_images_with_a_default_prompt(world: World) -> None:
    async with world.running():
        images = [picture(world, f"{n}.png") for n in "abc"]
        handle = await world.discord.slash(
            "blend", options={"image1": images[0], "image2": images[1], "image3": images[2]}
        )
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        assert len(result.attachments) == 1
        body = world.provider.last("submit").body
        assert body["model"] == "seedream-4.5"
        assert body["input"]["prompt"] == DEFAULT_BLEND_PROMPT
        assert body["input"]["image_urls"] == [image["url"] for image in images]
        assert body["input"]["n"] == 1
        assert await left_today(world) == "9 of 10"


async def test_blend_with_prompt_and_any_ratio(world: World) -> None:
    async with world.running():
        options = {
            "image1": picture(world, "a.png"),
            "image2": picture(world, "b.png"),
            "prompt": "the cat wearing the hat",
            "ratio": "5:4",
        }
        handle = await world.discord.slash("blend", options=options)
        await world.result(job_id_in((await handle.followup(0)).content))
        body = world.provider.last("submit").body
        assert body["input"]["prompt"] == "the cat wearing the hat"
        # 5:4 is no preset: pixels of that ratio at 2K (about 2048x2048 in total)
        assert body["input"]["size"] == "2288x1832"


async def test_blend_beyond_the_models_limit_is_refused_before_any_download(
    world: World,
) -> None:
    async with world.running(provider_model="seedream-next"):
        options = {"image1": picture(world, "a.png"), "image2": picture(world, "b.png")}
        text = await refusal(world, "blend", options)
        assert "2 reference images given; seedream-next takes at most 1." in text
        assert world.discord.requests_to("GET", CDN) == []
        assert world.provider.count() == 0


async def test_apikley_image_prompts_use_the_edit_model(world_of: MakeWorld) -> None:
    async with world_of("apikley") as world, world.running():
        ref = picture(world, "a.png")
        handle = await world.discord.slash("imagine", options={"prompt": "x", "image": ref})
        await world.result(job_id_in((await handle.followup(0)).content))
        body = world.provider.last("submit").body
        # Apikley's text-to-image models take no image_urls: the edit variant is needed
        assert body["model"] == "seedream/4.5-edit"
        assert body["input"]["image_urls"] == [ref["url"]]


async def test_vidgo_5_lite_refuses_a_webp_reference_before_any_charge(
    world_of: MakeWorld,
) -> None:
    async with world_of("vidgo") as world, world.running():
        options = {
            "prompt": "x",
            "model": "seedream-5.0-lite",
            "image": picture(world, "a.webp", fmt="WEBP"),
        }
        text = await refusal(world, "imagine", options)
        assert "reference 1 is WEBP; Seedream 5.0 lite here takes JPEG and PNG only." in text
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"
        # the same WebP on Seedream 4.5 is fine
        handle = await world.discord.slash("imagine", options=options | {"model": "seedream-4.5"})
        await world.result(job_id_in((await handle.followup(0)).content))
        assert world.provider.last("submit").body["input"]["image_urls"]


async def test_pixazo_b64_json_answers_are_delivered(world_of: MakeWorld) -> None:
    async with world_of("pixazo") as world, world.running():
        world.provider.script.b64 = True
        handle = await world.discord.slash("imagine", options={"prompt": "x"})
        result = await world.result(job_id_in((await handle.followup(0)).content))
        assert len(result.attachments) == 1
        Image.open(io.BytesIO(result.attachments[0].data)).load()
        assert world.provider.count("image") == 0  # the image came in the answer itself


async def test_a_bad_ratio_with_image_prompts_is_refused_before_any_download(
    world: World,
) -> None:
    async with world.running():
        options = {"prompt": "x", "image": picture(world, "a.png"), "ratio": "40:1"}
        text = await refusal(world, "imagine", options)
        assert "`40:1` is too narrow or too wide" in text
        assert world.discord.requests_to("GET", CDN) == []
        assert world.provider.count() == 0
        assert await left_today(world) == "10 of 10"
