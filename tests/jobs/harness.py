"""A bot "process" for tests: a real store (a SQLite file, or a PostgreSQL database when
``database_url`` is given), an engine, fake providers, fast polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.core.job import Job, JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest
from bot.jobs.engine import JobEngine
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.waiting import PollSchedule
from bot.providers.base import Provider
from bot.root import EngineOptions, build_engine, build_quotas
from bot.storage.postgres.pg_store import PgStore
from bot.storage.protocols import Store
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.store import SqliteStore
from tests.jobs.support import FakeClock, RecordingDeliverer, RecordingSink, request

FAST = PollSchedule(first=0.001, interval=0.001, growth=1.0, max_interval=0.001)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_path": tmp_path / "bot.sqlite3",
        "default_daily_quota": 10,
        "max_jobs_per_user": 2,
        "provider_concurrency": 8,
        "job_deadline_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (sync or async) until truthy."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


@dataclass
class Harness:
    """One bot "process": a DB connection and an engine on the shared file."""

    tmp_path: Path
    providers: list[Provider]
    clock: FakeClock = field(default_factory=FakeClock)
    sink: RecordingSink = field(default_factory=RecordingSink)
    deliverer: RecordingDeliverer = field(default_factory=RecordingDeliverer)
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    runner: RunnerConfig | None = None
    downloader: Any = None
    #: the engine's sleep (None: asyncio.sleep), e.g. one that advances ``clock`` instead
    sleep: Any = None
    #: the providers' limits (None: built from the settings), e.g. on a fake clock
    limits: Any = None
    store: Store | None = None
    engine: JobEngine | None = None
    http: httpx.AsyncClient = field(default_factory=httpx.AsyncClient)
    #: PostgreSQL instead of the SQLite file (every harness of a test shares the database)
    database_url: str | None = None

    async def open(self, *, start: bool = True) -> JobEngine:
        extra: dict[str, Any] = {}
        if self.database_url is None:
            self.store = await SqliteStore.open(self.tmp_path / "bot.sqlite3", clock=self.clock)
        else:
            self.store = await PgStore.open(self.database_url, clock=self.clock)
            extra["database_url"] = self.database_url
        conf = settings(self.tmp_path, **extra, **self.settings_overrides)
        runner = self.runner or RunnerConfig(
            deadline=conf.job_deadline_seconds,
            public_url=conf.public_url,
            poll_schedule=FAST,
            retry_backoff=0.001,
            delivery_backoff=0.001,
        )
        self.engine = build_engine(
            conf,
            store=self.store,
            providers=self.providers,
            http=self.http,
            quota=build_quotas(conf, self.store, self.clock),
            clock=self.clock,
            deliverer=self.deliverer,
            events=self.sink,
            options=EngineOptions(runner=runner, stop_timeout=2.0),
            downloader=self.downloader,
            sleep=self.sleep or asyncio.sleep,
            limits=self.limits,
        )
        if start:
            await self.engine.start()
        return self.engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        if self.store is not None:
            await self.store.close()
        self.engine = None
        self.store = None

    @property
    def db(self) -> Database | None:
        """The store's SQLite connection (for tests that look under the seam); None on
        PostgreSQL."""
        return self.store.db if isinstance(self.store, SqliteStore) else None

    async def images_kept(self, job_id: str) -> bool:
        """Whether the job's result images are still stored (files, or bytea rows)."""
        if isinstance(self.store, PgStore):
            async with self.store.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT count(*) FROM image_blobs WHERE job_id = %s", (job_id,)
                )
                row = await cursor.fetchone()
            return bool(row and row[0])
        return (self.tmp_path / "images" / job_id).exists()

    async def restart(self, **changes: Any) -> JobEngine:
        """Stop this process and start a fresh one on the same file."""
        await self.close()
        for name, value in changes.items():
            setattr(self, name, value)
        return await self.open()

    async def create(
        self,
        req: GenerationRequest | None = None,
        *,
        user: int = 7,
        guild: int = 1,
        roles: Sequence[int] = (),
    ) -> Job:
        assert self.engine is not None
        return await self.engine.create_job(
            JobSpec(
                guild_id=guild,
                channel_id=55,
                user_id=user,
                role_ids=roles,
                kind=JobKind.IMAGINE,
                origin=JobOrigin.SLASH,
                request=req or request(),
            )
        )

    async def job(self, job_id: str) -> Job:
        assert self.engine is not None
        job = await self.engine.get_job(job_id)
        assert job is not None
        return job

    async def final(self, job_id: str, timeout: float = 5.0) -> Job:
        async def done() -> bool:
            return (await self.job(job_id)).state.finished

        await wait_until(done, timeout)
        return await self.job(job_id)

    async def event(self, kind: type[Any]) -> Any:
        """The first event of ``kind`` (events follow the ledger write, so wait for it)."""
        await wait_until(lambda: self.sink.of(kind))
        return self.sink.of(kind)[0]

    async def state_is(self, job_id: str, state: Any, timeout: float = 5.0) -> None:
        async def reached() -> bool:
            return (await self.job(job_id)).state is state

        await wait_until(reached, timeout)
