"""The composition root: every long-lived object of one process, built from ``Settings``.

Only this module reads ``Settings`` to build things; every object gets its collaborators
passed in. The start-up path is ``bot/__main__.py`` → ``bot.cli`` → ``bot.launcher`` → here.
Tests and benchmarks build the bot through ``Root.open`` too, their changes passed in as
``Overrides``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg_pool import PoolTimeout

from bot.config import Settings
from bot.core.clock import Clock, utc_now
from bot.core.errors import ConfigError, SchemaTooNewError
from bot.discord.app import BotConfig, BotServices, SeedreamBot
from bot.discord.attachments import ReferenceChecker
from bot.discord.desk import JobDesk
from bot.discord.posting import DiscordPosting
from bot.i18n.catalogs import Catalogs
from bot.jobs.cluster import ClusterExecution, ClusterTimings
from bot.jobs.cluster_line import SharedLine
from bot.jobs.cluster_schema import install_procrastinate_schema
from bot.jobs.concurrency import ProviderLimits
from bot.jobs.delivery import Deliverer
from bot.jobs.dispatching import JobWorkers
from bot.jobs.engine import STOP_TIMEOUT, EngineLimits, JobEngine
from bot.jobs.events import EventSink, GuardedSink
from bot.jobs.execution import JobExecution, LocalExecution
from bot.jobs.fair_line import FairLine, LineLimits
from bot.jobs.image_store import ImageStore
from bot.jobs.job_runner import JobRunner
from bot.jobs.ledger import JobLedger
from bot.jobs.options import Downloader, ProviderSlots, RunnerConfig, TaskWaiter
from bot.jobs.preferences import Preferences, load_styles
from bot.jobs.scheduler import Scheduler, SchedulerSlots
from bot.jobs.timing import TaskTimings
from bot.jobs.waiting import Sleep
from bot.metrics import EngineMetrics
from bot.moderation.actions import ModerationService
from bot.providers.base import Provider, ProviderConfig
from bot.providers.configure import build_provider
from bot.providers.transport import DEFAULT_TIMEOUT, make_http_client
from bot.quotas.admission import Admission
from bot.quotas.rules import QuotaService
from bot.storage.advisory import ClusterLocks, cluster_locks
from bot.storage.postgres.pg_images import PgImageStore
from bot.storage.postgres.pg_pool import describe_url, explain
from bot.storage.postgres.pg_store import PgStore
from bot.storage.protocols import ResultImageStore, Store
from bot.storage.sqlite.store import SqliteStore
from bot.web.server import ListenError, WebServer

log = logging.getLogger(__name__)

#: the setting to change when a listener cannot bind
_PORT_SETTING = {"http": "HTTP_PORT", "metrics": "METRICS_PORT"}


@dataclass(frozen=True)
class EngineOptions:
    """Engine knobs besides ``Settings`` (tests and benchmarks shrink the timings)."""

    runner: RunnerConfig | None = None
    image_root: Path | None = None
    stop_timeout: float = STOP_TIMEOUT
    #: PostgreSQL only: heartbeat, recovery and polling timings (None: from ``Settings``)
    cluster: ClusterTimings | None = None


@dataclass(frozen=True)
class Overrides:
    """What a test or benchmark changes in the process it builds, said up front."""

    engine: EngineOptions = EngineOptions()
    #: the provider HTTP client's timeout in seconds (None: the default)
    http_timeout: float | None = None
    #: passed on to discord.py's client (e.g. ``guild_ready_timeout``)
    bot_options: Mapping[str, Any] = field(default_factory=dict)


#: the process as the operator configured it
NO_OVERRIDES = Overrides()


def build_engine(
    settings: Settings,
    *,
    store: Store,
    providers: Sequence[Provider],
    http: httpx.AsyncClient,
    quota: QuotaService,
    deliverer: Deliverer,
    events: EventSink,
    ledger: JobLedger | None = None,
    clock: Clock = utc_now,
    metrics: EngineMetrics | None = None,
    options: EngineOptions = EngineOptions(),
    sleep: Sleep = asyncio.sleep,
    waiter: TaskWaiter | None = None,
    downloader: Downloader | None = None,
    limits: ProviderLimits | None = None,
) -> JobEngine:
    """The job engine and what it runs on: ledger, image store, scheduler, job runner.

    ``limits`` replaces the providers' adaptive limits (tests pass one on a fake clock)."""
    ledger = ledger or JobLedger(store.jobs, quota)
    images = build_image_store(settings, store, options)
    metrics = metrics or EngineMetrics()
    limits = limits or ProviderLimits(
        ceiling=settings.provider_concurrency,
        rates={p.name: p.submit_rate for p in providers if p.submit_rate is not None},
        metrics=metrics,
    )
    scheduler = Scheduler(max_per_user=settings.max_jobs_per_user, limits=limits)
    shared = _shared_line(settings, store, limits, providers)
    slots: ProviderSlots = shared or SchedulerSlots(scheduler, limits)
    sink = GuardedSink(events)
    runner = JobRunner(
        ledger=ledger,
        providers=providers,
        store=images,
        deliverer=deliverer,
        notify=sink.on_event,
        metrics=metrics,
        http=http,
        clock=clock,
        slots=slots,
        config=options.runner
        or RunnerConfig(
            deadline=settings.job_deadline_seconds,
            public_url=settings.public_url,
            delivery_retry_window=settings.delivery_retry_hours * 3600,
        ),
        sleep=sleep,
        waiter=waiter,
        downloader=downloader,
        timings=TaskTimings(store.timings),
    )
    execution: JobExecution
    if shared is not None:
        assert isinstance(store, PgStore)
        execution = _cluster_execution(
            settings, store, shared, ledger, runner, providers, sink, options.cluster
        )
    else:
        assert isinstance(slots, SchedulerSlots)
        workers = JobWorkers(
            runner=runner, slots=slots, events=sink, stop_timeout=options.stop_timeout
        )
        execution = LocalExecution(workers, scheduler)
    return JobEngine(
        ledger=ledger,
        runner=runner,
        execution=execution,
        store=images,
        quota=quota,
        providers=providers,
        limits=EngineLimits(
            max_images_per_job=settings.max_images_per_job,
            max_storyboard_frames=settings.max_storyboard_frames,
        ),
        events=sink,
        metrics=metrics,
    )


def _shared_line(
    settings: Settings, store: Store, limits: ProviderLimits, providers: Sequence[Provider]
) -> SharedLine | None:
    """The fair line in PostgreSQL when the store is shared; None on SQLite."""
    if not isinstance(store, PgStore):
        return None
    names = [p.name for p in providers]

    def current() -> dict[str, int]:
        # this process's adaptive limits, read each time admission runs
        return {name: limits.limit_for(name) for name in names}

    line = FairLine(LineLimits(settings.max_jobs_per_user, current, settings.provider_concurrency))
    return SharedLine(store.pool, line, limits)


def _cluster_execution(
    settings: Settings,
    store: PgStore,
    shared: SharedLine,
    ledger: JobLedger,
    runner: JobRunner,
    providers: Sequence[Provider],
    sink: GuardedSink,
    timings: ClusterTimings | None,
) -> ClusterExecution:
    """Jobs on procrastinate across processes; the store queues each job as it creates it."""
    url = store.pool.conninfo
    if not isinstance(url, str):
        raise TypeError("the PostgreSQL pool must be opened from a URL")
    execution = ClusterExecution(
        pool=store.pool,
        url=url,
        shared=shared,
        ledger=ledger,
        runner=runner,
        providers=providers,
        events=sink,
        timings=timings
        or ClusterTimings(
            stall_timeout=settings.job_stall_timeout,
            recovery_interval=settings.job_recovery_interval,
        ),
    )
    store.jobs.on_created = execution.on_created
    return execution


def build_image_store(settings: Settings, store: Store, options: EngineOptions) -> ResultImageStore:
    """Where result images wait: in PostgreSQL when the store is (so any host can post them),
    else files beside the SQLite database."""
    if isinstance(store, PgStore):
        return PgImageStore(store.pool)
    return ImageStore(options.image_root or settings.database_path.parent / "images")


def build_quotas(settings: Settings, store: Store, clock: Clock = utc_now) -> QuotaService:
    """The quota rules over the store."""
    return QuotaService(
        store.quotas,
        default_daily_quota=settings.default_daily_quota,
        global_daily_budget=settings.global_daily_budget,
        clock=clock,
    )


class Root:
    """One process's objects, opened together and closed in reverse order."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        store: Store,
        engine: JobEngine,
        web: WebServer,
        bot: SeedreamBot,
        locks: ClusterLocks,
    ) -> None:
        self.http = http
        self.store = store
        self.engine = engine
        self.web = web
        self.bot = bot
        #: the duties shared with the bot's other processes (nothing to share on SQLite)
        self.locks = locks
        self._web_started = False
        self._closed = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        configs: Sequence[ProviderConfig],
        overrides: Overrides = NO_OVERRIDES,
        *,
        gateway: bool = True,
    ) -> Root:
        """Open the HTTP client and the database (migrated) and build everything on them.

        Nothing talks to Discord or the providers yet: ``SeedreamBot.setup_hook`` calls
        :meth:`start` once logged in. A problem the operator can fix raises ``ConfigError``.
        ``gateway=False`` builds a ``worker``: healthy once logged in to the REST API.
        """
        styles = load_styles(settings.styles_path)  # a bad file stops the start, before I/O
        timeout = (
            DEFAULT_TIMEOUT
            if overrides.http_timeout is None
            else httpx.Timeout(overrides.http_timeout)
        )
        http = make_http_client(timeout=timeout)
        try:
            store = await open_store(settings)
        except BaseException:
            await http.aclose()
            raise
        providers = [build_provider(config, http) for config in configs]
        quotas = build_quotas(settings, store)
        moderation = ModerationService(
            store.moderation, max_daily_quota=settings.max_daily_quota, max_grant=settings.max_grant
        )
        ledger = JobLedger(store.jobs, quotas)
        catalogs = Catalogs(settings.locales, settings.default_locale)
        bot = SeedreamBot(
            BotConfig(
                allowed_guild_ids=settings.allowed_guild_ids,
                dev_guild_id=settings.dev_guild_id,
                discord_api_base=settings.discord_api_base,
                shard_ids=settings.shard_ids,
                shard_count=settings.shard_count,
                catalogs=catalogs,
            ),
            **overrides.bot_options,
        )
        posting = DiscordPosting(bot, _card_recorder(ledger), providers)
        engine = build_engine(
            settings,
            store=store,
            providers=providers,
            http=http,
            quota=quotas,
            deliverer=posting,
            events=posting,
            ledger=ledger,
            options=overrides.engine,
        )
        web = WebServer(
            engine=engine,
            db=store,
            discord_connected=(
                (lambda: bot.discord_connected) if gateway else (lambda: bot.rest_ready)
            ),
            host=settings.http_host,
            port=settings.http_port,
            metrics_host=settings.metrics_host,
            metrics_port=settings.metrics_port,
        )
        desk = JobDesk(
            jobs=engine,
            posting=posting,
            providers=providers,
            admission=Admission(quotas),
            reference_checker=ReferenceChecker(),
            max_count=settings.max_images_per_job,
            preferences=Preferences(store.preferences, styles),
            max_frames=settings.max_storyboard_frames,
        )
        locks = cluster_locks(settings.postgres_url())
        root = cls(http=http, store=store, engine=engine, web=web, bot=bot, locks=locks)
        bot.provide(
            BotServices(
                jobs=engine,
                desk=desk,
                quotas=quotas,
                moderation=moderation,
                providers=providers,
                state=store.state,
                http_client=http,
                startup=root.start,
                locks=root.locks,
            )
        )
        return root

    async def start(self) -> None:
        """Start the engine (resuming unfinished jobs), then the web server."""
        await self.engine.start()
        try:
            await self.web.start()
        except ListenError as exc:
            raise ConfigError(_PORT_SETTING[exc.role], str(exc)) from None
        self._web_started = True

    async def stop_taking_jobs(self) -> None:
        """Refuse new jobs and stop the workers; jobs in flight stay in the ledger."""
        await self.engine.stop()

    async def close(self) -> None:
        """Close in reverse order of opening."""
        if self._closed:
            return
        self._closed = True
        if self._web_started:
            await self.web.stop()
        await self.engine.stop()
        await self.http.aclose()
        await self.locks.close()
        await self.store.close()


def _card_recorder(ledger: JobLedger) -> Callable[[str, int], Any]:
    """Remember a job's card message in the ledger (a restart edits the same card)."""

    async def record(job_id: str, message_id: int) -> None:
        await ledger.record_messages(job_id, message_id, ())

    return record


async def open_store(settings: Settings) -> Store:
    """PostgreSQL when ``DATABASE_URL`` is set, else SQLite at ``DATABASE_PATH``; opened and
    migrated. A problem the operator can fix names the setting (never the password)."""
    url = settings.postgres_url()
    if url is not None:
        return await _open_postgres(url)
    return await _open_sqlite(settings.database_path)


async def _open_postgres(url: str) -> PgStore:
    try:
        store = await PgStore.open(url)
    except SchemaTooNewError:
        raise ConfigError(
            "DATABASE_URL",
            f"{describe_url(url)} was written by a newer seedream-bot; upgrade the bot",
        ) from None
    except (psycopg.Error, PoolTimeout, OSError) as exc:
        raise ConfigError("DATABASE_URL", explain(exc, url)) from None
    try:
        # the job queue's tables, under the migrations' advisory lock
        await install_procrastinate_schema(url)
    except (psycopg.Error, OSError) as exc:
        await store.close()
        raise ConfigError("DATABASE_URL", explain(exc, url)) from None
    return store


async def _open_sqlite(path: Path) -> SqliteStore:
    """Open and migrate the file; a problem the operator can fix names DATABASE_PATH."""
    try:
        return await SqliteStore.open(path)
    except SchemaTooNewError:
        raise ConfigError(
            "DATABASE_PATH", f"{path} was written by a newer seedream-bot; upgrade the bot"
        ) from None
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError("DATABASE_PATH", f"cannot open {path} ({exc})") from None
