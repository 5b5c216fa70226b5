"""Vidgo sends callbacks to HTTPS receivers only: with an http:// PUBLIC_URL its jobs are polled."""

from __future__ import annotations

from tests.e2e.harness import fast_engine, job_id_in
from tests.e2e.test_image_prompts import MakeWorld, world_of

__all__ = ["world_of"]  # the fixture, shared

PLAIN_HTTP = "http://127.0.0.1:9"


async def test_vidgo_gets_no_http_callback_and_is_polled(world_of: MakeWorld) -> None:
    async with (
        world_of("vidgo") as world,
        world.running(engine_options=fast_engine(public_url=PLAIN_HTTP)),
    ):
        handle = await world.discord.slash("imagine", options={"prompt": "x"})
        result = await world.result(job_id_in((await handle.followup(0)).content))
        assert result.attachments
        # "Receiver rules: HTTPS only" (PROVIDERS.md §2, V4)
        assert "callback_url" not in world.provider.last("submit").body
        assert world.provider.count("status") >= 1


async def test_poyo_still_gets_the_http_callback(world_of: MakeWorld) -> None:
    async with (
        world_of("poyo") as world,
        world.running(engine_options=fast_engine(public_url=PLAIN_HTTP)),
    ):
        handle = await world.discord.slash("imagine", options={"prompt": "x"})
        await world.result(job_id_in((await handle.followup(0)).content))
        callback = world.provider.last("submit").body["callback_url"]
        assert callback.startswith(f"{PLAIN_HTTP}/callbacks/poyo/")
