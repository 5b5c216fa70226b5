"""No secret in any log line the bot writes or any message it sends, whole suite at DEBUG.

The suite-wide check lives in ``tests/resilience/secrets_capture.py`` (autouse through
``tests/conftest.py``: every test fails at teardown if a secret leaked during it). These tests
prove that check can fail, that it really sees the bot at DEBUG, and drive the paths where a
provider key is most likely to slip out: provider error bodies and task failures that echo it.
"""

from __future__ import annotations

import asyncio
import base64
import logging

from bot.log import REDACTED, RedactingFilter
from tests.e2e.harness import BOT_TOKEN, PROVIDER_KEY, World, job_id_in
from tests.resilience.secrets_capture import BotLogCapture, SecretWatch, find_leaks
from tests.resilience.support import query


def test_the_check_catches_what_redaction_misses() -> None:
    handler = BotLogCapture(RedactingFilter([BOT_TOKEN, PROVIDER_KEY]))
    logger = logging.getLogger("bot.secret-test")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("token %s", BOT_TOKEN)  # exact copies are redacted, as in production
        try:
            raise RuntimeError(f"key={PROVIDER_KEY}")
        except RuntimeError:
            logger.exception("boom")
        assert all(BOT_TOKEN not in line and PROVIDER_KEY not in line for line in handler.lines)
        assert REDACTED in handler.lines[0]
        assert not find_leaks(handler.lines, [BOT_TOKEN, PROVIDER_KEY])

        # what no exact-match redaction can catch: a piece, an encoding
        logger.debug("key starts %s", PROVIDER_KEY[:24])
        logger.debug("basic auth %s", base64.b64encode(BOT_TOKEN.encode()).decode())
        leaks = find_leaks(handler.lines, [BOT_TOKEN, PROVIDER_KEY])
        assert len(leaks) == 2, leaks
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_short_masked_keys_are_not_leaks() -> None:
    masked = f"{PROVIDER_KEY[:6]}…{PROVIDER_KEY[-4:]}"
    assert not find_leaks([f"refused key {masked}"], [PROVIDER_KEY])


async def test_a_hostile_provider_echoing_the_key_leaks_it_nowhere(
    world: World, secrets_never_leak: SecretWatch
) -> None:
    watch = secrets_never_leak
    provider = world.provider
    echo = f"Invalid API key: {PROVIDER_KEY} (see https://example.invalid/?key={PROVIDER_KEY})"
    async with asyncio.timeout(30), world.running():
        # 1. the submit is refused with the key in a 400 body (shown to the member, shortened)
        provider.fail_next("submit", 400, body={"error": {"message": echo, "type": "invalid"}})
        # 2. a 401 that echoes it, 3. a 500 that echoes it
        provider.fail_next("submit", 401, body={"error": {"message": echo}})
        provider.fail_next("submit", 500, body={"detail": echo})
        jobs = []
        for n in range(3):
            handle = await world.discord.slash("imagine", options={"prompt": f"echo {n}"})
            jobs.append(job_id_in((await handle.followup(0, timeout=10)).content))
            await world.wait(lambda: _ended(world, jobs[-1]), 10)
        # 4. a task that fails with the key in its message
        provider.script.fail = echo
        handle = await world.discord.slash("imagine", options={"prompt": "task failure"})
        jobs.append(job_id_in((await handle.followup(0, timeout=10)).content))
        await world.wait(lambda: _ended(world, jobs[-1]), 10)
        # 5. a status poll answered with it (then the task finishes normally)
        provider.script.fail = None
        provider.fail_next("status", 503, body={"message": echo}, times=2)
        handle = await world.discord.slash("imagine", options={"prompt": "noisy poll"})
        jobs.append(job_id_in((await handle.followup(0, timeout=10)).content))
        await world.result(jobs[-1])
        status = await world.discord.slash("status", options={"job": jobs[0]})
        await status.response()

    rows = {row["id"]: row for row in query(world.settings.database_path, "SELECT * FROM jobs")}
    assert [rows[job]["state"] for job in jobs] == ["failed"] * 4 + ["done"]
    for job in jobs[:4]:
        card = world.card(job)
        assert card is not None
        assert "Failed" in card.embeds[0]["title"]
    # the check that runs after every test, here on purpose: the capture saw the bot at DEBUG
    lines = list(watch.handler.lines)
    assert any(" DEBUG " in line and " discord." in line for line in lines)
    assert any(REDACTED in line for line in lines)  # the echoes were logged, redacted
    stored = "\n".join(str(row) for row in rows.values())
    assert not find_leaks([stored], [PROVIDER_KEY]), "a secret was stored in the ledger"
    assert not watch.check()


def _ended(world: World, job_id: str) -> bool:
    rows = query(world.settings.database_path, "SELECT state FROM jobs WHERE id = ?", [job_id])
    return bool(rows) and rows[0]["state"] in ("done", "failed")
