"""The database locked (another connection's exclusive transaction) just as the result is
posted: the settlement waits the lock out; the job ends done, charged, with its buttons."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest
import stamina

from tests.e2e.harness import World, job_id_in
from tests.fakes.discord_models import RecordedRequest
from tests.resilience.support import accounts

HOLD = 1.0


async def test_a_locked_database_when_the_result_is_posted_never_fails_the_job(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.storage.sqlite.jobs_store")
    released = asyncio.Event()
    locks: list[sqlite3.Connection] = []

    def lock_database(request: RecordedRequest) -> bool:
        if not request.files:
            return False  # a progress edit, not the result
        other = sqlite3.connect(world.settings.database_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        other.execute("UPDATE jobs SET updated_at = updated_at")
        locks.append(other)

        def release() -> None:
            other.execute("ROLLBACK")
            other.close()
            released.set()

        asyncio.get_running_loop().call_later(HOLD, release)
        return True

    # the real backoff between tries (the e2e fixture's stamina test mode stops at 3 tries)
    with stamina.set_testing(False):
        async with asyncio.timeout(20), world.running():
            assert world.root is not None
            # "database is locked" after 50 ms rather than the production 5 s
            await world.root.store.db.run_read(lambda conn: conn.execute("PRAGMA busy_timeout=50"))
            handle = await world.discord.slash("imagine", options={"prompt": "locked", "count": 2})
            job_id = job_id_in((await handle.followup(0)).content)
            card = await world.wait(lambda: world.card(job_id))
            world.discord.on_request("PATCH", rf"/channels/\d+/messages/{card.id}", lock_database)

            await released.wait()
            row = await world.settled(job_id)
            assert (row["state"], row["charged"], row["error_code"]) == ("done", 2, None)
            result = await world.result(job_id)
            assert len(result.attachments) == 2
            assert "Failed" not in result.embeds[0]["title"]
            custom_ids = {c.get("custom_id") for c in result.walk_components()}
            assert {f"sd:reroll:{job_id}", f"sd:edit:{job_id}"} <= custom_ids
            await world.discord.settle()
            # nothing edited the card after the result (no failure card, buttons kept)
            edits = world.discord.requests_to("PATCH", rf"/channels/\d+/messages/{card.id}")
            assert edits[-1].files
            ledger = accounts(world.settings.database_path)
            assert ledger.delivered[job_id] == 2
    assert len(locks) == 1
    assert any("database is locked" in r.getMessage() for r in caplog.records)
