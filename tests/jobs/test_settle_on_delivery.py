"""The record of the last posted image settles the job in the same transaction: nobody ever
sees every image posted and the reservation still open; leftover files are swept at start."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.core.job import Job, JobImage, StoredImage
from bot.core.states import JobState
from bot.jobs.events import JobDelivered, JobFailed
from bot.jobs.ledger import JobLedger
from bot.quotas.rules import QuotaService
from tests.jobs.harness import Harness, wait_until
from tests.jobs.support import RecordingDeliverer, fake_provider, request

MakeHarness = Callable[..., Harness]


class LookingDeliverer(RecordingDeliverer):
    """After each message's record, looks at the ledger as a member's /status would."""

    def __init__(self) -> None:
        super().__init__()
        self.harness: Harness | None = None
        self.seen: list[tuple[int, JobState, int | None]] = []  # (posted so far, state, charged)

    async def deliver(
        self,
        job: Job,
        images: Sequence[StoredImage],
        posted: Callable[[int, Sequence[int]], Any],
    ) -> list[int]:
        async def looking(message_id: int, indexes: Sequence[int]) -> None:
            await posted(message_id, indexes)
            assert self.harness is not None
            now = await self.harness.job(job.id)
            self.seen.append((len(self.posted), now.state, now.charged))

        return await super().deliver(job, images, looking)


async def test_the_last_record_settles_the_job_at_once(make_harness: MakeHarness) -> None:
    deliverer = LookingDeliverer()
    h = make_harness(fake_provider(), deliverer=deliverer)
    deliverer.harness = h
    await h.open()
    job = await h.create(request(count=3))
    done = await h.final(job.id)
    assert (done.state, done.charged) == (JobState.DONE, 3)
    await wait_until(lambda: len(deliverer.seen) == 3)
    # before the last image: still delivering, nothing charged; right after it: settled
    assert deliverer.seen == [
        (1, JobState.DELIVERING, None),
        (2, JobState.DELIVERING, None),
        (3, JobState.DONE, 3),
    ]


async def test_an_image_whose_file_vanished_is_refunded_with_the_last_record(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(fake_provider())
    h.deliverer.gate = asyncio.Event()
    await h.open()
    job = await h.create(request(count=3))
    await h.deliverer.started.wait()
    await h.close()
    (h.tmp_path / "images" / job.id / "1.png").unlink()
    engine = await h.restart(deliverer=RecordingDeliverer())
    done = await h.final(job.id)
    assert (done.state, done.charged, done.refunded) == (JobState.DONE, 2, 1)
    assert [index for _, index, _ in h.deliverer.posted] == [0, 2]
    assert (await engine.quota_status(1, 7, [])).used_today == 2


async def test_files_left_by_a_stop_after_the_settlement_are_swept_at_start(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(fake_provider())
    await h.open()
    done = await h.final((await h.create(request(count=2))).id)
    assert done.state is JobState.DONE
    h.deliverer.gate = asyncio.Event()
    delivering = await h.create(request(count=1))
    await h.state_is(delivering.id, JobState.DELIVERING)
    await h.close()
    # as if the process had died between the settling record and the removal of the files
    leftover = h.tmp_path / "images" / done.id
    leftover.mkdir(parents=True)
    (leftover / "0.png").write_bytes(b"x")
    waiting = h.tmp_path / "images" / delivering.id
    assert waiting.is_dir()

    blocked = RecordingDeliverer()
    blocked.gate = asyncio.Event()
    await h.restart(deliverer=blocked)
    await blocked.started.wait()
    assert not leftover.exists()
    assert waiting.is_dir()  # a job still delivering keeps its images
    blocked.gate.set()
    assert (await h.final(delivering.id)).charged == 1
    await wait_until(lambda: not waiting.exists())


async def test_record_posted_settles_only_once_every_awaited_image_is_posted(
    make_harness: MakeHarness,
) -> None:
    h = make_harness(fake_provider())
    await h.open(start=False)
    assert h.store is not None
    assert h.engine is not None
    rules = QuotaService(h.store.quotas, default_daily_quota=10, clock=h.clock)
    ledger = JobLedger(h.store.jobs, rules)
    job = await h.create(request(count=3))
    await ledger.transition(job.id, JobState.SUBMITTED, task_id="t")
    images = [JobImage(index=i, filename=f"{i}.png", content_type="image/png") for i in range(3)]
    await ledger.start_delivering(job.id, images)
    assert await ledger.record_posted(job.id, [1], 11, awaited={0, 1}) is None
    ending = await ledger.record_posted(job.id, [0], 10, awaited={0, 1})
    assert ending is not None
    assert (ending.job.state, ending.settlement.charged, ending.settlement.refunded) == (
        JobState.DONE,
        2,
        1,
    )
    # a late duplicate record changes nothing and settles nothing
    assert await ledger.record_posted(job.id, [0, 1, 2], 12) is None
    again = await h.job(job.id)
    assert (again.state, again.charged) == (JobState.DONE, 2)
    assert [image.delivered for image in again.images] == [True, True, False]
    assert (await h.engine.quota_status(1, 7, [])).used_today == 2


class LockingDeliverer(RecordingDeliverer):
    """Before the last image's record, another connection locks the database for a while."""

    def __init__(self, path: Path, hold: float) -> None:
        super().__init__()
        self.path = path
        self.hold = hold
        self.released = asyncio.Event()

    async def deliver(
        self,
        job: Job,
        images: Sequence[StoredImage],
        posted: Callable[[int, Sequence[int]], Any],
    ) -> list[int]:
        last = images[-1].index

        async def locking(message_id: int, indexes: Sequence[int]) -> None:
            if last in indexes:
                hold_lock(self.path, self.hold, self.released)
            await posted(message_id, indexes)

        return await super().deliver(job, images, locking)


def hold_lock(path: Path, seconds: float, released: asyncio.Event) -> None:
    """A real lock on the real file: another connection in an exclusive transaction."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("UPDATE jobs SET updated_at = updated_at")  # it really writes

    def release() -> None:
        other.execute("ROLLBACK")
        other.close()
        released.set()

    asyncio.get_running_loop().call_later(seconds, release)


async def test_a_locked_database_at_the_settlement_is_waited_out(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.storage.sqlite.jobs_store")
    h = make_harness(fake_provider())
    locker = LockingDeliverer(h.tmp_path / "bot.sqlite3", hold=0.6)
    h.deliverer = locker
    await h.open()
    assert h.db is not None
    # "database is locked" after 20 ms instead of the production 5 s
    await h.db.run_read(lambda conn: conn.execute("PRAGMA busy_timeout=20"))
    job = await h.create(request(count=3))
    await locker.released.wait()
    done = await h.final(job.id)
    assert (done.state, done.charged, done.error_code) == (JobState.DONE, 3, None)
    assert (await h.event(JobDelivered)).charged == 3  # announced after the settlement
    assert not h.sink.of(JobFailed)
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    assert (await h.engine.quota_status(1, 7, [])).used_today == 3  # type: ignore[union-attr]
