"""Discord not taking results for a while (dropped connections, 5xx): the paid images are
kept, the card says delivery is delayed, and they are posted and charged once when Discord
recovers; only after the retry window does the job fail, refunded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.harness import World, fast_engine, job_id_in
from tests.resilience.support import accounts

MESSAGES = r"/channels/\d+/messages"
#: quick tries 0.05 s apart, then at most 0.2 s apart (in production: 2 s, then 60 s)
FAST_RETRIES = {"delivery_backoff": 0.05, "delivery_first_hour_cap": 0.2}


async def imagine(world: World, prompt: str, count: int) -> str:
    handle = await world.discord.slash("imagine", options={"prompt": prompt, "count": count})
    return job_id_in((await handle.followup(0, timeout=10)).content)


def images_on_disk(world: World, job_id: str) -> list[Path]:
    folder = world.settings.database_path.parent / "images" / job_id
    return sorted(folder.iterdir()) if folder.is_dir() else []


def break_posts(world: World, how: str) -> None:
    """Every new channel message fails (the card exists already and can still be edited)."""
    if how == "drop":
        world.discord.drop_next("POST", MESSAGES, times=1_000_000)
    else:  # 503: not retried inside discord.py, so each try of the bot's shows
        world.discord.fail_next("POST", MESSAGES, 503, times=1_000_000)


def delayed_note(world: World, job_id: str) -> str | None:
    card = world.card(job_id)
    if card is None or not card.embeds:
        return None
    fields = {f["name"]: f["value"] for f in card.embeds[0].get("fields", [])}
    return fields.get("Delivery delayed")


@pytest.mark.parametrize("how", ["drop", "503"])
async def test_results_wait_for_discord_and_are_posted_once_when_it_recovers(
    world: World, how: str
) -> None:
    async with (
        asyncio.timeout(30),
        world.running(
            engine_options=fast_engine(**FAST_RETRIES),
            max_images_per_job=12,
            default_daily_quota=20,
        ),
    ):
        job_id = await imagine(world, f"{how} while posting", 12)  # 2 messages: 10 + 2
        await world.wait(lambda: world.card(job_id))
        break_posts(world, how)

        note = await world.wait(lambda: delayed_note(world, job_id), 10)
        assert "<t:" in note  # until when it is tried
        assert "nothing is charged" in note
        [row] = [j for j in accounts(world.settings.database_path).jobs if j["id"] == job_id]
        assert (row["state"], row["charged"]) == ("delivering", None)
        assert len(images_on_disk(world, job_id)) == 12
        failed = [r for r in world.discord.requests_to("POST", MESSAGES) if r.files]
        assert len(failed) >= 3
        assert {r.status for r in failed} == {0 if how == "drop" else 503}

        world.discord.rest.faults.clear()  # Discord is back
        card = await world.result(job_id)
        assert len(card.attachments) == 10
        assert "Delivery delayed" not in {f["name"] for f in card.embeds[0]["fields"]}
        ledger = accounts(world.settings.database_path)
        [row] = [j for j in ledger.jobs if j["id"] == job_id]
        assert (row["state"], row["charged"]) == ("done", 12)
        assert ledger.delivered[job_id] == 12
        assert ledger.daily_used == {(world.discord.guild.id, row["user_id"]): 12}
        posted = [len(m.attachments) for m in world.channel_messages() if m.attachments]
        assert sorted(posted) == [2, 10]  # every image once, nothing twice
        await world.wait(lambda: not images_on_disk(world, job_id))


async def test_results_discord_never_takes_are_refunded_after_the_window(world: World) -> None:
    window = 1.5  # seconds here; DELIVERY_RETRY_HOURS in production
    async with (
        asyncio.timeout(30),
        world.running(
            engine_options=fast_engine(delivery_retry_window=window, **FAST_RETRIES),
            max_images_per_job=12,
            default_daily_quota=20,
        ),
    ):
        job_id = await imagine(world, "never delivered", 12)
        await world.wait(lambda: world.card(job_id))
        break_posts(world, "drop")
        await world.wait(lambda: delayed_note(world, job_id), 10)
        row = await world.settled(job_id, 10)
        assert (row["state"], row["error_code"], row["charged"]) == ("failed", "delivery", 0)

        card = await world.wait(
            lambda: (c := world.card(job_id)) and "Failed" in c.embeds[0]["title"] and c
        )
        fields = {f["name"]: f["value"] for f in card.embeds[0]["fields"]}
        assert fields["Refunded"] == "12 images"
        assert "would not take the images" in fields["Why"]
        assert not card.attachments
        status = await world.discord.slash("status")
        overview = {f["name"]: f["value"] for f in (await status.response()).embeds[0]["fields"]}
        assert overview["Left today"] == "20 of 20"
        await world.wait(lambda: not images_on_disk(world, job_id))
        assert not [m for m in world.channel_messages() if m.attachments]
