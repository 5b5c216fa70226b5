"""Discord misbehaving while results are posted: 5xx, 429, a lost card, a dropped gateway.

Whatever happens, each job's images reach the channel once: one message, every image, the job
charged for exactly what was posted.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.harness import World, job_id_in
from tests.resilience.support import accounts, cards, result_messages

MESSAGE = r"/channels/\d+/messages/\d+"
MESSAGES = r"/channels/\d+/messages"


async def imagine(world: World, prompt: str, count: int = 2) -> str:
    handle = await world.discord.slash("imagine", options={"prompt": prompt, "count": count})
    return job_id_in((await handle.followup(0, timeout=10)).content)


async def delivered_once(world: World, job_id: str, count: int, timeout: float = 15.0) -> None:
    """The job is done, its images are in exactly one message, and it was charged for them."""

    def done() -> bool:
        rows = [job for job in accounts(world.settings.database_path).jobs if job["id"] == job_id]
        return bool(rows) and rows[0]["state"] in ("done", "failed")

    await world.wait(done, timeout)
    ledger = accounts(world.settings.database_path)
    [job] = [job for job in ledger.jobs if job["id"] == job_id]
    assert job["state"] == "done", job
    [message] = result_messages(world.discord)[job_id]
    assert len(message.attachments) == count == job["charged"] == ledger.delivered[job_id]
    assert len(cards(world.discord)[job_id]) == 1  # no second card, no duplicate result


@pytest.mark.parametrize(
    ("status", "times"),
    [
        (500, 1),  # discord.py retries a 500 itself (after 1 s)
        (503, 2),  # not retried by discord.py: the job's delivery retries
        (502, 1),
    ],
)
async def test_a_5xx_on_posting_results(world: World, status: int, times: int) -> None:
    async with asyncio.timeout(20), world.running():
        job_id = await imagine(world, f"{status} on results")
        card = await world.wait(lambda: world.card(job_id))
        world.discord.fail_next("PATCH", rf"/channels/\d+/messages/{card.id}", status, times=times)
        await delivered_once(world, job_id, 2)
        failed = [r for r in world.discord.requests_to("PATCH", MESSAGE) if r.status == status]
        assert len(failed) == times
        assert all(r.files for r in failed)  # it was the results that failed, not a card edit


@pytest.mark.parametrize("is_global", [False, True])
async def test_a_429_on_posting_results_waits_and_posts_once(world: World, is_global: bool) -> None:
    async with asyncio.timeout(20), world.running():
        job_id = await imagine(world, "rate limited results")
        card = await world.wait(lambda: world.card(job_id))
        world.discord.rate_limit_next(
            "PATCH", rf"/channels/\d+/messages/{card.id}", retry_after=0.3, is_global=is_global
        )
        await delivered_once(world, job_id, 2)
        limited = [r for r in world.discord.requests_to("PATCH", MESSAGE) if r.status == 429]
        assert len(limited) == 1


async def test_a_card_that_could_not_be_posted_then_a_500_on_the_result(world: World) -> None:
    async with asyncio.timeout(20), world.running():
        world.discord.fail_next("POST", MESSAGES, 403, body={"message": "nope", "code": 50013})
        job_id = await imagine(world, "no card")
        await world.wait(lambda: world.discord.requests_to("POST", MESSAGES))
        world.discord.fail_next("POST", MESSAGES, 500)
        await delivered_once(world, job_id, 2)
        posts = world.discord.requests_to("POST", MESSAGES)
        assert [r.status for r in posts] == [403, 500, 200]


async def test_a_card_deleted_before_the_results_gets_a_new_message(world: World) -> None:
    world.provider.script.finish_after = 0.6
    async with asyncio.timeout(20), world.running():
        job_id = await imagine(world, "deleted card")
        card = await world.wait(lambda: world.card(job_id))
        world.discord.fail_next(
            "PATCH",
            rf"/channels/\d+/messages/{card.id}",
            404,
            body={"message": "Unknown Message", "code": 10008},
            times=10,
        )
        stored = world.discord.message(card.id)
        assert stored is not None
        stored.deleted = True  # a moderator removed it
        await delivered_once(world, job_id, 2)
        [result] = result_messages(world.discord)[job_id]
        assert result.id != card.id


@pytest.mark.parametrize("how", ["drop", "reconnect", "drop twice"])
async def test_gateway_lost_mid_job_results_still_arrive_once(world: World, how: str) -> None:
    world.provider.script.finish_after = 1.0
    async with asyncio.timeout(25), world.running():
        gateway = world.discord.gateway
        before = gateway.identify_count
        first = await imagine(world, "before the outage")
        await world.wait(lambda: world.card(first))
        if how == "reconnect":
            await world.discord.send_reconnect()
        else:
            await world.discord.drop_gateway(4000)
        if how == "drop twice":
            await world.wait(lambda: gateway.resume_count >= 1, 10)
            await world.discord.drop_gateway(4000)
        # a command sent while the socket is down is replayed on RESUME
        second = await imagine(world, "during the outage", count=1)
        await delivered_once(world, first, 2)
        await delivered_once(world, second, 1)
        assert gateway.resume_count >= 1
        assert gateway.identify_count == before  # resumed, not a new session
        assert world.provider.count("submit") == 2
