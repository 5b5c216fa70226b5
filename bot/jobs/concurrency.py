"""How many tasks each provider gets at once, found rather than guessed; Retry-After pauses
and client-side pacing of submits.

Each provider's limit follows AIMD, as TCP's window does: it starts at ``INITIAL_LIMIT`` and
grows by one per accepted submit while it is in use (slow start), until the provider first
says "too many" (a 429, KIE's "too many tasks", or a burst of 5xx); then it drops to at most
``BACKOFF`` of itself and to what the provider was holding when it refused, and from there
grows by one per full window of accepted submits. ``PROVIDER_CONCURRENCY`` is the ceiling, 1
the floor. A 429 with Retry-After also pauses that provider's submits for that long, and a
provider with a documented submit rate (``Provider.submit_rate``) is paced so a burst of jobs
stays inside its window.

The scheduler (and, with PostgreSQL, the admission query) asks ``limit_for(provider)``; the
limits themselves live here, per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from bot.metrics import EngineMetrics
from bot.providers.base import SubmitRate

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

#: where a provider's limit starts (the old fixed default)
INITIAL_LIMIT = 8
FLOOR = 1
#: slow start: the limit's growth per accepted submit
SLOW_START_STEP = 2.0
#: a refusal leaves at most this share of the limit
BACKOFF = 0.9
#: this many failed submits (5xx, unreachable) within ``FAULT_WINDOW`` s count as overload
FAULT_BURST = 3
FAULT_WINDOW = 10.0
FAULT_BACKOFF = 0.75
#: a change of at least this share of the last logged limit is logged at INFO
LOG_SHARE = 0.25
#: sent this much later than the window strictly allows (clocks and networks jitter)
PACING_MARGIN = 0.2
#: status requests per second to one provider at most, and the burst above that rate: with
#: thousands of long tasks in flight, polls queue and go out evenly spread instead of in
#: waves (far below it, as with the default ceiling of 64 tasks, nothing waits)
STATUS_RATE = 100.0
STATUS_BURST = 20


class ConcurrencyLimits(Protocol):
    """What the scheduler asks: how many tasks ``provider`` may have now."""

    def limit_for(self, provider: str) -> int:
        """The provider's current limit (at least 1)."""
        ...


class FixedLimits:
    """The same limit for every provider (tests, and the scheduler's plain form)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limits must be at least 1")
        self.limit = limit

    def limit_for(self, provider: str) -> int:
        """Always ``limit``."""
        return self.limit


class AdaptiveLimit:
    """One provider's limit: slow start, additive increase, multiplicative decrease."""

    def __init__(self, ceiling: int, initial: int = INITIAL_LIMIT) -> None:
        self.ceiling = max(ceiling, FLOOR)
        self.value = float(max(FLOOR, min(initial, self.ceiling)))
        #: True until the provider first refuses: grow by two per accepted submit
        self.slow_start = True
        #: shrunk, and no submit accepted since
        self.recovering = False

    @property
    def limit(self) -> int:
        """The whole number of tasks allowed."""
        return max(FLOOR, min(int(self.value), self.ceiling))

    def grow(self, in_flight: int) -> None:
        """An accepted submit, with ``in_flight`` tasks at the provider (this one included).

        Only a limit in use grows: a quiet bot must not talk itself into a large one.
        """
        self.recovering = False
        if in_flight < self.limit - 1:
            return
        # a task accepted keeps its slot (unlike a TCP segment acknowledged), so slow start
        # adds two: every accepted submit lets two more go, and the limit doubles per round
        # trip instead of growing by its initial size
        step = SLOW_START_STEP if self.slow_start else 1.0 / self.value
        self.value = min(self.value + step, float(self.ceiling))

    def shrink(self, factor: float, holding: int | None = None) -> None:
        """The provider refused; ``holding`` is how many of our tasks it had then.

        Refusals before the next accepted submit answer the same overload (a burst sent in
        one round trip): they do not multiply the back-off again, only the ``holding``
        bound applies."""
        if self.recovering:
            factor = 1.0
        self.recovering = True
        target = self.value * factor
        if holding is not None:
            target = min(target, float(holding))
        self.value = max(float(FLOOR), target)
        self.slow_start = False


class SubmitPacer:
    """At most ``rate.count`` submits in any ``rate.per`` seconds, by reserving send times."""

    def __init__(self, rate: SubmitRate) -> None:
        self.rate = rate
        self._sent: deque[float] = deque(maxlen=rate.count)

    def reserve(self, now: float) -> float:
        """The time the next submit may leave (now, or when the window has room)."""
        at = now
        if len(self._sent) == self.rate.count:
            at = max(now, self._sent[0] + self.rate.per + PACING_MARGIN)
        self._sent.append(at)
        return at


class ProviderLimits:
    """Every provider's adaptive limit, Retry-After pause and submit pacer.

    ``clock``/``sleep`` are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        *,
        ceiling: int,
        rates: Mapping[str, SubmitRate] | None = None,
        metrics: EngineMetrics | None = None,
        initial: int = INITIAL_LIMIT,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if ceiling < 1:
            raise ValueError("limits must be at least 1")
        self.ceiling = ceiling
        self._initial = initial
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._limits: dict[str, AdaptiveLimit] = {}
        self._logged: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}
        self._faults: dict[str, deque[float]] = {}
        self._pacers = {name: SubmitPacer(rate) for name, rate in (rates or {}).items()}
        #: per provider: the theoretical arrival time of the next status request (GCRA),
        #: on the budget's own timeline, which runs ``_status_slip`` s behind the clock
        self._status_due: dict[str, float] = {}
        #: per provider: how far stalls have pushed every queued status request back
        self._status_slip: dict[str, float] = {}
        self.status_rate = STATUS_RATE

    def limit_for(self, provider: str) -> int:
        """The provider's current limit."""
        return self._limit(provider).limit

    def paused_for(self, provider: str) -> float:
        """Seconds until the provider's Retry-After pause ends (0 when not paused)."""
        return max(0.0, self._paused_until.get(provider, 0.0) - self._clock())

    def accepted(self, provider: str, in_flight: int) -> bool:
        """A submit was accepted; True when the limit grew (more jobs may start)."""
        self._count(provider, "accepted")
        limit = self._limit(provider)
        before = limit.limit
        limit.grow(in_flight)
        return self._changed(provider, before)

    def refused(self, provider: str, holding: int, retry_after: float | None) -> None:
        """The provider said "too many" while holding ``holding`` of our other tasks."""
        self._count(provider, "rate_limited")
        limit = self._limit(provider)
        before = limit.limit
        limit.shrink(BACKOFF, holding)
        self._changed(provider, before)
        if retry_after:
            until = self._clock() + retry_after
            if until > self._paused_until.get(provider, 0.0):
                self._paused_until[provider] = until
                log.info("%s: submits paused for %.1f s (Retry-After)", provider, retry_after)

    def faulted(self, provider: str) -> None:
        """A submit failed on the provider's side (5xx, unreachable); a burst shrinks the limit."""
        self._count(provider, "failed")
        now = self._clock()
        faults = self._faults.setdefault(provider, deque())
        faults.append(now)
        while faults and faults[0] < now - FAULT_WINDOW:
            faults.popleft()
        if len(faults) >= FAULT_BURST:
            faults.clear()
            limit = self._limit(provider)
            before = limit.limit
            limit.shrink(FAULT_BACKOFF)
            self._changed(provider, before)

    async def wait_turn(self, provider: str) -> None:
        """Wait out the provider's pause, then its pacing, before a submit."""
        pacer = self._pacers.get(provider)
        while True:
            if (pause := self.paused_for(provider)) > 0:
                await self._sleep(pause)
                continue
            if pacer is None:
                return
            now = self._clock()
            at = pacer.reserve(now)
            if at > now:
                await self._sleep(at - now)
            if self.paused_for(provider) <= 0:
                return

    async def poll_turn(self, provider: str) -> None:
        """Wait for a status request's turn: at most ``status_rate`` a second, bursts of
        ``STATUS_BURST`` (a GCRA: each request moves the provider's due time on by one
        interval, and may go while that is at most a burst's worth ahead of now).

        A turn is a reserved time, and a stalled event loop (a busy machine) wakes every
        turn that passed during the stall at once. The first request woken more than a
        burst late moves the whole queue back by its lateness beyond that, so the overdue
        ones keep their order and spacing and go at the budget's rate, not as one burst."""
        if self.status_rate == float("inf"):
            return
        interval = 1.0 / self.status_rate
        ahead = STATUS_BURST * interval
        now = self._clock()
        slip = self._status_slip.get(provider, 0.0)
        turn = max(self._status_due.get(provider, now - slip), now - slip)
        self._status_due[provider] = turn + interval
        # (a wait under a thousandth of the interval is float dust)
        while (wait := turn + self._status_slip.get(provider, 0.0) - ahead - now) > interval / 1000:
            await self._sleep(wait)
            now = self._clock()
        late = -wait - ahead  # past the turn itself (a request that never slept: about 0)
        if late > interval:  # woken late: push every queued turn back past the stall
            self._status_slip[provider] = self._status_slip.get(provider, 0.0) + late

    def _limit(self, provider: str) -> AdaptiveLimit:
        limit = self._limits.get(provider)
        if limit is None:
            limit = self._limits[provider] = AdaptiveLimit(self.ceiling, self._initial)
            self._logged[provider] = limit.limit
            if self._metrics is not None:
                self._metrics.provider_limit(provider, limit.limit)
        return limit

    def _changed(self, provider: str, before: int) -> bool:
        after = self._limits[provider].limit
        if after == before:
            return False
        if self._metrics is not None:
            self._metrics.provider_limit(provider, after, "up" if after > before else "down")
        logged = self._logged[provider]
        large = abs(after - logged) >= max(1.0, logged * LOG_SHARE)
        if after != logged and (large or after in (FLOOR, self.ceiling)):
            log.info("%s: concurrency limit %d -> %d", provider, logged, after)
            self._logged[provider] = after
        return after > before

    def _count(self, provider: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.submit_outcome(provider, outcome)
