"""Learned task timing: how long tasks of a kind took, the finish to expect, and polls placed
around it.

The history is a short rolling one per ``TaskKind`` (provider, model, resolution, image
count) in the store, read once per kind and then kept in step in memory. With at least
``MIN_HISTORY`` tasks seen, a wait polls once early (a task finishing sooner than any
before is still caught), then densely from just before the fastest finish seen to just
after the slowest, then on a stretching schedule; callbacks still wake the wait at once.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.core.errors import RequestValidationError
from bot.core.request import GenerationRequest, TaskKind
from bot.jobs.pipeline import wire_model
from bot.jobs.waiting import DEFAULT_SCHEDULE, PollSchedule
from bot.providers.base import Provider
from bot.storage.protocols import TimingStore

#: durations kept per kind
HISTORY = 20
#: durations needed before the history is trusted (estimates, poll placement)
MIN_HISTORY = 3
#: the early look, as a share of the fastest finish seen
PROBE_SHARE = 0.75
#: polls near the expected finish: this share of it apart (at least ``MIN_STEP`` s), or a
#: quarter of the spread of finishes seen when that is wider
STEP_SHARE = 0.01
MIN_STEP = 0.1


@dataclass(frozen=True)
class Expectation:
    """What the history says about the next task of a kind (seconds from its submit)."""

    typical: float
    fastest: float
    slowest: float
    samples: int


def expectation(times: Sequence[float], min_history: int = MIN_HISTORY) -> Expectation | None:
    """The median, fastest and slowest of ``times``; None with too few."""
    if len(times) < max(min_history, 1):
        return None
    return Expectation(
        typical=statistics.median(times), fastest=min(times), slowest=max(times), samples=len(times)
    )


def kind_of(provider: Provider, request: GenerationRequest) -> TaskKind:
    """The kind ``provider``'s task for ``request`` is timed under."""
    try:
        request = provider.validate(request)
        model = wire_model(provider, request)
    except (RequestValidationError, NotImplementedError):
        model = request.model or "default"
    return task_kind(provider.name, model, request)


def task_kind(provider: str, model: str, request: GenerationRequest) -> TaskKind:
    """The kind a request's task is timed under."""
    if request.resolution:
        resolution = request.resolution
    elif request.exact_size is not None:
        resolution = "{}x{}".format(*request.exact_size)
    else:
        resolution = "default"
    return TaskKind(provider, model, resolution, request.count)


@dataclass(frozen=True)
class ExpectedSchedule:
    """Polls placed around an expected finish; ``elapsed``: seconds since the submit when
    the wait starts (a resumed job), so polls already past are skipped."""

    expected: Expectation
    fallback: PollSchedule = DEFAULT_SCHEDULE
    elapsed: float = 0.0

    @property
    def step(self) -> float:
        """The gap between polls near the expected finish."""
        e = self.expected
        floor = min(MIN_STEP, self.fallback.interval)  # never denser than asked for
        step = max(floor, e.typical * STEP_SHARE, (e.slowest - e.fastest) / 4)
        return min(step, self.fallback.max_interval)

    def times(self) -> Iterator[float]:
        """Poll times in seconds since the submit, endless."""
        e, step = self.expected, self.step
        probe = e.fastest * PROBE_SHARE
        yield probe
        # two steps early: the finishes learned are at most a step late (the poll that saw
        # them), so the first polls land on both sides of the true finish
        at = max(e.fastest - 2 * step, probe + step)
        while at <= e.slowest + step:
            yield at
            at += step
        interval = step
        while True:
            yield at
            interval = min(interval * self.fallback.growth, self.fallback.max_interval)
            at += interval

    def delays(self) -> Iterator[float]:
        """The pauses before each poll, from the start of the wait."""
        last = self.elapsed
        for at in self.times():
            if at < last:
                continue
            yield at - last
            last = at


class TaskTimings:
    """The rolling history over a ``TimingStore``, cached per kind."""

    def __init__(
        self, store: TimingStore, *, keep: int = HISTORY, min_history: int = MIN_HISTORY
    ) -> None:
        self._store = store
        self._keep = keep
        self._min_history = min_history
        self._cache: dict[TaskKind, deque[float]] = {}

    async def expected(self, kind: TaskKind) -> Expectation | None:
        """What to expect of a task of ``kind``, or None without enough history."""
        return expectation(await self._history(kind), self._min_history)

    async def record(self, kind: TaskKind, seconds: float) -> None:
        """One finished task of ``kind`` took ``seconds`` from its submit."""
        history = await self._history(kind)
        history.append(seconds)
        await self._store.record_task_time(kind, seconds, keep=self._keep)

    async def _history(self, kind: TaskKind) -> deque[float]:
        history = self._cache.get(kind)
        if history is None:
            times = await self._store.task_times(kind, self._keep)
            # another wait may have loaded it meanwhile
            history = self._cache.setdefault(kind, deque(times, maxlen=self._keep))
        return history
