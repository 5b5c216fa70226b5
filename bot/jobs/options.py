"""What the job runner is configured with and the seams it calls through (injectable in tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from bot.core.request import ResultImage, TaskStatus
from bot.core.retry import MAX_SUBMIT_RETRY_WAIT, RATE_LIMIT_BACKOFF, RATE_LIMIT_RETRIES
from bot.jobs.waiting import OnUpdate, PollSchedule, PollTrace, Schedule, Sleep
from bot.providers.base import Provider
from bot.providers.downloads import DEFAULT_MAX_BYTES


class TaskWaiter(Protocol):
    """``bot.jobs.waiting.wait_for_task``'s shape."""

    async def __call__(
        self,
        provider: Provider,
        task_id: str,
        *,
        wake: asyncio.Event | None = ...,
        deadline: float = ...,
        on_update: OnUpdate | None = ...,
        schedule: Schedule = ...,
        sleep: Sleep = ...,
        trace: PollTrace | None = ...,
        before_poll: Callable[[], Awaitable[None]] | None = ...,
    ) -> TaskStatus: ...


class Downloader(Protocol):
    """``bot.providers.downloads.download_images``'s shape."""

    async def __call__(
        self, client: httpx.AsyncClient, images: Sequence[ResultImage], *, max_bytes: int = ...
    ) -> list[bytes]: ...


class ProviderSlots(Protocol):
    """The engine's per-provider limits, as one job submitting (or switching provider) sees them."""

    async def acquire(self, job_id: str, provider: str) -> None:
        """Hold a slot of ``provider`` for the job (waits while the provider is full)."""

    async def turn(self, provider: str) -> None:
        """Wait until ``provider`` may take a submit (Retry-After pause, pacing)."""

    def accepted(self, provider: str) -> None:
        """``provider`` accepted a submit."""

    async def poll_turn(self, provider: str) -> None:
        """Wait for a status request's turn within the provider's poll budget."""

    def refused(self, job_id: str, provider: str, retry_after: float | None) -> bool:
        """``provider`` refused the job's submit as too many; the job's slot is given back.
        True when other jobs were at the provider (the limit may explain the refusal)."""

    def faulted(self, provider: str) -> None:
        """A submit failed on the provider's side."""

    def release_provider(self, job_id: str) -> None:
        """The job no longer needs a provider slot."""


@dataclass(frozen=True)
class RunnerConfig:
    """Timings and limits; tests shrink them so nothing really sleeps."""

    deadline: float = 900.0
    public_url: str | None = None
    poll_schedule: PollSchedule = field(default_factory=PollSchedule)
    #: extra submit attempts on one provider after a 429 before failing over
    rate_limit_retries: int = RATE_LIMIT_RETRIES
    retry_backoff: float = RATE_LIMIT_BACKOFF
    max_retry_wait: float = MAX_SUBMIT_RETRY_WAIT
    #: quick tries of a delivery, ``delivery_backoff`` doubling between them; when they run
    #: out the card says delivery is delayed and tries go on (``bot.core.retry.WindowedBackoff``)
    delivery_attempts: int = 3
    delivery_backoff: float = 2.0
    #: the longest wait between tries in the first hour of the window, and ever
    delivery_first_hour_cap: float = 60.0
    delivery_max_delay: float = 1800.0
    #: how long (from the submit) delivery is tried, again at every start, before a refund
    delivery_retry_window: float = 24 * 3600.0
    max_image_bytes: int = DEFAULT_MAX_BYTES
