"""Result images between download and posting, on both backends (``ResultImageStore``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.states import JobState
from bot.jobs.image_store import ImageStore
from bot.quotas.rules import QuotaService
from bot.storage.postgres.pg_images import PgImageStore
from bot.storage.postgres.pg_store import PgStore
from bot.storage.protocols import ResultImageStore, Store
from bot.storage.sqlite.store import SqliteStore
from tests.jobs.support import PNG, FakeClock
from tests.storage.test_contract import create


@dataclass
class Backend:
    store: Store
    images: ResultImageStore
    rules: QuotaService


@pytest.fixture(
    params=["files", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = FakeClock()
    store: Store
    images: ResultImageStore
    if request.param == "postgres":
        pg = await PgStore.open(request.getfixturevalue("pg_url"), clock=clock)
        store, images = pg, PgImageStore(pg.pool)
    else:
        store = await SqliteStore.open(tmp_path / "bot.sqlite3", clock=clock)
        images = ImageStore(tmp_path / "images")
    try:
        yield Backend(
            store, images, QuotaService(store.quotas, default_daily_quota=10, clock=clock)
        )
    finally:
        await store.close()


async def test_saved_images_load_until_discarded(backend: Backend) -> None:
    job = await create(backend.store, backend.rules, 2)
    saved = await backend.images.save(job.id, 0, PNG, "https://cdn/0.png")
    assert saved is not None
    assert (saved.filename, saved.content_type, saved.size) == ("0.png", "image/png", len(PNG))
    loaded = await backend.images.load(job.id, saved)
    assert loaded is not None
    assert (loaded.data, loaded.content_type, loaded.index) == (PNG, "image/png", 0)
    await backend.images.discard(job.id)
    assert await backend.images.load(job.id, saved) is None


async def test_bytes_that_are_no_image_are_dropped(backend: Backend) -> None:
    job = await create(backend.store, backend.rules)
    assert await backend.images.save(job.id, 0, b"<html>nope</html>", None) is None


async def test_sweep_removes_what_settled_jobs_left_and_keeps_the_rest(backend: Backend) -> None:
    settled = await create(backend.store, backend.rules)
    open_job = await create(backend.store, backend.rules)
    left = await backend.images.save(settled.id, 0, PNG, None)
    kept = await backend.images.save(open_job.id, 0, PNG, None)
    assert left is not None
    assert kept is not None
    await backend.store.jobs.finish(settled.id, JobState.CANCELLED, backend.rules)
    assert await backend.images.sweep({open_job.id}) == [settled.id]
    assert await backend.images.load(settled.id, left) is None
    assert await backend.images.load(open_job.id, kept) is not None


@pytest.mark.postgres
async def test_another_host_loads_what_one_host_saved(pg_url: str) -> None:
    clock = FakeClock()
    first, second = await PgStore.open(pg_url, clock=clock), await PgStore.open(pg_url)
    try:
        rules = QuotaService(first.quotas, default_daily_quota=10, clock=clock)
        job = await create(first, rules)
        saved = await PgImageStore(first.pool).save(job.id, 0, PNG, None)
        assert saved is not None
        await first.close()  # the first host is gone
        loaded = await PgImageStore(second.pool).load(job.id, saved)
        assert loaded is not None
        assert loaded.data == PNG
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_sweep_spares_a_job_another_process_just_created(pg_url: str) -> None:
    # keep was read before the other process created its job: its images must stay
    store = await PgStore.open(pg_url, clock=FakeClock())
    try:
        rules = QuotaService(store.quotas, default_daily_quota=10, clock=FakeClock())
        images = PgImageStore(store.pool)
        keep: set[str] = set()
        fresh = await create(store, rules)
        saved = await images.save(fresh.id, 0, PNG, None)
        assert saved is not None
        assert await images.sweep(keep) == []
        assert await images.load(fresh.id, saved) is not None
    finally:
        await store.close()
