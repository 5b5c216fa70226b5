"""What the engine tells the outside world (the Discord layer) about a job's progress.

Each event is a frozen dataclass carrying the job as it is after the change. Sinks should
be quick: the engine awaits them in line (and logs, never propagates, their exceptions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeAlias

from bot.core.errors import SeedreamError
from bot.core.job import Job, JobImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobQueued:
    """A job was accepted and waits its turn; ``position`` 1 is next."""

    job: Job
    position: int


@dataclass(frozen=True)
class JobPositionChanged:
    """A waiting job moved in the queue."""

    job: Job
    position: int


@dataclass(frozen=True)
class JobRunning:
    """A provider has the job (``job.provider``); ``progress`` 0–100 when it says so.

    Sent when the job is submitted (again after a failover) and on each progress change.
    ``expected``: how long tasks like it took from the submit (seconds), once there is history.
    """

    job: Job
    progress: int | None = None
    expected: float | None = None


@dataclass(frozen=True)
class JobDelivered:
    """The images were posted; ``charged`` images were taken from the quota."""

    job: Job
    images: tuple[JobImage, ...]
    message_ids: tuple[int, ...]
    charged: int
    refunded: int


@dataclass(frozen=True)
class JobDeliveryDelayed:
    """The images are ready but could not be posted yet; they are kept and posting is tried
    again until ``retry_until`` (and at every start), nothing charged until they are out."""

    job: Job
    retry_until: datetime


@dataclass(frozen=True)
class JobFailed:
    """The job ended without (all) its images; ``reason`` is safe to show the member."""

    job: Job
    code: str
    reason: str
    refunded: int


@dataclass(frozen=True)
class JobCancelled:
    """A waiting job was cancelled and its images refunded in full."""

    job: Job
    by_user_id: int
    refunded: int


JobEvent: TypeAlias = (
    JobQueued
    | JobPositionChanged
    | JobRunning
    | JobDeliveryDelayed
    | JobDelivered
    | JobFailed
    | JobCancelled
)


class EventSink(Protocol):
    """Receives every job event (the Discord layer edits the job's card from these)."""

    async def on_event(self, event: JobEvent) -> None:
        """Handle one event; exceptions are logged by the engine and otherwise ignored."""


class NullSink:
    """Drops every event (CLI and tests)."""

    async def on_event(self, event: JobEvent) -> None:
        """Ignore the event."""


class GuardedSink:
    """Passes events on; a sink that fails is logged, never lets a job fail with it."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    async def on_event(self, event: JobEvent) -> None:
        """Hand the event to the sink."""
        try:
            await self._sink.on_event(event)
        except Exception:
            log.exception("job %s: event sink failed on %s", event.job.id, type(event).__name__)


def error_code(error: SeedreamError) -> str:
    """The ``code`` of a ``JobFailed`` for an error: its class's explicit, stable ``code``."""
    return error.code
