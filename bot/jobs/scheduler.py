"""Which waiting job starts next: per-member and per-provider limits, round-robin between members.

The per-provider limit is asked of a ``ConcurrencyLimits`` (``bot.jobs.concurrency``: adaptive
per provider), so it can change between two calls.

Pure bookkeeping, no I/O and no awaiting, so it is easy to test and cannot interleave: the
engine asks ``next_ready()`` whenever something changes and starts what it returns.

Fairness: members take turns. Each member's jobs start in the order they were made; among
members, the one who waited longest since their last start goes first. A member already at
``max_per_user`` jobs in flight, or whose next job's provider is full, is skipped without
losing their place.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from bot.jobs.concurrency import ConcurrencyLimits, FixedLimits, ProviderLimits


@dataclass(frozen=True)
class Dispatch:
    """A job the engine may start now; its member and provider slots are already taken."""

    job_id: str
    user_id: int
    provider: str


@dataclass
class _Waiting:
    job_id: str
    user_id: int
    provider: str


@dataclass
class _Flight:
    user_id: int
    provider: str | None


class Scheduler:
    """Queues per member, a rotation of members, and slot counts."""

    def __init__(
        self,
        *,
        max_per_user: int,
        provider_limit: int | None = None,
        limits: ConcurrencyLimits | None = None,
    ) -> None:
        """``limits`` (adaptive), or one fixed ``provider_limit`` for every provider."""
        if max_per_user < 1:
            raise ValueError("limits must be at least 1")
        if limits is None:
            if provider_limit is None:
                raise ValueError("give provider_limit or limits")
            limits = FixedLimits(provider_limit)
        self.max_per_user = max_per_user
        self.limits = limits
        self._queues: dict[int, deque[_Waiting]] = {}
        #: members with waiting jobs, next to be served first
        self._rotation: deque[int] = deque()
        self._flights: dict[str, _Flight] = {}
        self._per_user: dict[int, int] = {}
        self._per_provider: dict[str, int] = {}

    def enqueue(self, job_id: str, user_id: int, provider: str) -> None:
        """Add a waiting job that should start on ``provider``."""
        if self.is_waiting(job_id) or job_id in self._flights:
            raise ValueError(f"job {job_id} is already scheduled")
        queue = self._queues.setdefault(user_id, deque())
        queue.append(_Waiting(job_id, user_id, provider))
        if user_id not in self._rotation:
            self._rotation.append(user_id)

    def remove(self, job_id: str) -> bool:
        """Take a waiting job out of the queue (cancel); False when it isn't waiting."""
        for user_id, queue in self._queues.items():
            for item in queue:
                if item.job_id == job_id:
                    queue.remove(item)
                    if not queue:
                        self._drop_user(user_id)
                    return True
        return False

    def occupy(self, job_id: str, user_id: int, provider: str | None) -> None:
        """Count a job already in flight (resumed after a restart), even past the limits."""
        self._flights[job_id] = _Flight(user_id, None)
        self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
        if provider is not None:
            self._take_provider(job_id, provider)

    def next_ready(self) -> Dispatch | None:
        """Pop the next job that may start now and take its slots, or None."""
        for user_id in list(self._rotation):
            if self._per_user.get(user_id, 0) >= self.max_per_user:
                continue
            head = self._queues[user_id][0]
            if self._full(head.provider):
                continue
            self._queues[user_id].popleft()
            self._rotation.remove(user_id)
            if self._queues[user_id]:
                self._rotation.append(user_id)  # served: to the back of the line
            else:
                del self._queues[user_id]
            self.occupy(head.job_id, user_id, head.provider)
            return Dispatch(head.job_id, user_id, head.provider)
        return None

    def try_switch_provider(self, job_id: str, provider: str) -> bool:
        """Move an in-flight job's provider slot (failover); False when ``provider`` is full."""
        flight = self._flights[job_id]
        if flight.provider == provider:
            return True
        if self._full(provider):
            return False
        self.release_provider(job_id)
        self._take_provider(job_id, provider)
        return True

    def release_provider(self, job_id: str) -> None:
        """The job no longer needs its provider (it is delivering)."""
        flight = self._flights.get(job_id)
        if flight is None or flight.provider is None:
            return
        self._per_provider[flight.provider] -= 1
        flight.provider = None

    def release(self, job_id: str) -> None:
        """The job left flight (finished, or its worker stopped); frees both slots."""
        self.release_provider(job_id)
        flight = self._flights.pop(job_id, None)
        if flight is not None:
            self._per_user[flight.user_id] -= 1

    def is_waiting(self, job_id: str) -> bool:
        """True while the job sits in a queue."""
        return any(item.job_id == job_id for queue in self._queues.values() for item in queue)

    def positions(self) -> dict[str, int]:
        """Every waiting job's place in line (1 = next), dealing one job per member per round
        in rotation order; limits are ignored, so it is the order, not a time estimate."""
        result: dict[str, int] = {}
        queues = [list(self._queues[user_id]) for user_id in self._rotation]
        depth = max((len(q) for q in queues), default=0)
        for round_index in range(depth):
            for queue in queues:
                if round_index < len(queue):
                    result[queue[round_index].job_id] = len(result) + 1
        return result

    def position(self, job_id: str) -> int | None:
        """One job's place in line, or None when it is not waiting."""
        return self.positions().get(job_id)

    def in_flight(self, user_id: int) -> int:
        """Jobs of the member now in flight."""
        return self._per_user.get(user_id, 0)

    def provider_load(self, provider: str) -> int:
        """Jobs now holding a slot of ``provider``."""
        return self._per_provider.get(provider, 0)

    def _full(self, provider: str) -> bool:
        return self._per_provider.get(provider, 0) >= self.limits.limit_for(provider)

    def _take_provider(self, job_id: str, provider: str) -> None:
        self._flights[job_id].provider = provider
        self._per_provider[provider] = self._per_provider.get(provider, 0) + 1

    def _drop_user(self, user_id: int) -> None:
        del self._queues[user_id]
        if user_id in self._rotation:
            self._rotation.remove(user_id)


class SchedulerSlots:
    """The scheduler's provider slots, shared by the engine (dispatch) and each job's runner
    (failover to another provider, what a submit's answer says about the provider's limit),
    so neither has to hand itself to the other."""

    def __init__(self, scheduler: Scheduler, limits: ProviderLimits | None = None) -> None:
        self.scheduler = scheduler
        #: the adaptive limits, pauses and pacing (None: fixed limits, no pacing)
        self.limits = limits
        #: set when something may be ready to dispatch; the engine's dispatcher waits on it
        self.changed = asyncio.Event()
        self._freed = asyncio.Event()

    async def acquire(self, job_id: str, provider: str) -> None:
        """Move the job's provider slot to ``provider``, waiting while it is full."""
        while not self.scheduler.try_switch_provider(job_id, provider):
            self._freed.clear()
            await self._freed.wait()

    async def turn(self, provider: str) -> None:
        """Wait until ``provider`` may take a submit (Retry-After pause, pacing)."""
        if self.limits is not None:
            await self.limits.wait_turn(provider)

    async def poll_turn(self, provider: str) -> None:
        """Wait for a status request's turn within the provider's poll budget."""
        if self.limits is not None:
            await self.limits.poll_turn(provider)

    def accepted(self, provider: str) -> None:
        """``provider`` accepted a submit; a grown limit lets more jobs start."""
        if self.limits is None:
            return
        if self.limits.accepted(provider, self.scheduler.provider_load(provider)):
            self.freed()

    def refused(self, job_id: str, provider: str, retry_after: float | None) -> bool:
        """``provider`` answered the job's submit "too many": the job gives its slot back (it
        takes one again with ``acquire``) and the limit shrinks. True when other jobs of ours
        were at the provider, so the refusal may be the limit's doing, not the job's."""
        self.scheduler.release_provider(job_id)
        holding = self.scheduler.provider_load(provider)
        if self.limits is not None:
            self.limits.refused(provider, holding, retry_after)
        return holding > 0

    def faulted(self, provider: str) -> None:
        """A submit failed on the provider's side."""
        if self.limits is not None:
            self.limits.faulted(provider)

    def release_provider(self, job_id: str) -> None:
        """The job is done with its provider (delivering)."""
        self.scheduler.release_provider(job_id)
        self.freed()

    def freed(self) -> None:
        """A slot came free: wake a job waiting to switch, and the dispatcher."""
        self._freed.set()
        self.changed.set()
