"""The job card and /status show how long a job should take, once there is history."""

from __future__ import annotations

import re

from tests.e2e.harness import World, fast_engine, job_id_in
from tests.providers.fakes import Script


async def test_the_card_and_status_show_an_estimate_once_there_is_history(world: World) -> None:
    world.provider.script = Script(finish_after=1.0)
    async with world.running(engine_options=fast_engine()):
        for n in range(3):  # the history: three tasks of about a second
            handle = await world.discord.slash("imagine", options={"prompt": f"fox {n}"})
            job_id = job_id_in((await handle.followup(0)).content)
            card = await world.result(job_id)
            assert "about" not in card.embeds[0]["title"]
        world.provider.script = Script(finish_after=60.0)
        handle = await world.discord.slash("imagine", options={"prompt": "a slow fox"})
        job_id = job_id_in((await handle.followup(0)).content)

        def estimated() -> str | None:
            card = world.card(job_id)
            title = card.embeds[0]["title"] if card is not None else ""
            return title if "about" in title else None

        title = await world.wait(estimated)
        assert re.search(r"Generating…( \d+%)? \(about 1 s\)$", title), title
        status = await world.discord.slash("status", options={"job": job_id})
        fields = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert fields["Expected"].startswith("about 1 s ("), fields
