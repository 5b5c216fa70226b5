"""Waiting for a provider task: polling on a stretching schedule, woken early by callbacks.

Callbacks are only an accelerator (PROVIDERS.md §10.5): when ``wake`` is set, the task is
re-checked through ``provider.status()`` at once, and only what ``status()`` says counts, so a
forged "finished" callback cannot end the wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bot.core.errors import ProviderTimeoutError, ProviderUnavailableError, RateLimitedError
from bot.core.localizable import N_
from bot.core.request import TaskStatus
from bot.providers.base import Provider

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]
OnUpdate = Callable[[TaskStatus], Awaitable[None]]


class Schedule(Protocol):
    """Where polls go: the pauses before each, from the start of the wait."""

    def delays(self) -> Iterator[float]:
        """The endless sequence of pauses before each poll."""
        ...


@dataclass
class PollTrace:
    """What a wait saw, for timing the task: seconds from the start of the wait to the last
    poll that found it unfinished and to the answer that found it finished."""

    last_unfinished: float | None = None
    finished: float | None = None
    #: the finishing answer was fetched because a callback woke the wait
    woken: bool = False

    @property
    def seconds(self) -> float | None:
        """When the task most likely finished: the callback's moment, else the middle of
        the last gap between polls when that gap is narrow (a tenth of the time at most),
        else the poll that saw it finished (None when it was never seen finished).

        A wide gap is an early look followed by the first poll near the expected finish,
        or the default schedule's stretched polls; its middle would teach the history a
        time far too early, its end at worst a little late."""
        if self.finished is None:
            return None
        if self.woken or self.last_unfinished is None:
            return self.finished
        if self.finished - self.last_unfinished > self.finished * NARROW_GAP:
            return self.finished
        return (self.last_unfinished + self.finished) / 2


@dataclass(frozen=True)
class PollSchedule:
    """Poll after ``first`` s, then every ``interval`` s, growing by ``growth`` to ``max_interval``.

    The defaults poll at about 2, 4, 6.5, 9.6, 13.5, 18.4, 24.5, 32 s...: a 30 s task takes 8
    status requests, a 2-minute one about 16, and long tasks settle at one poll per 10 s.
    """

    first: float = 2.0
    interval: float = 2.0
    growth: float = 1.25
    max_interval: float = 10.0

    def delays(self) -> Iterator[float]:
        """The endless sequence of pauses before each poll."""
        yield self.first
        delay = self.interval
        while True:
            yield delay
            delay = min(delay * self.growth, self.max_interval)


DEFAULT_SCHEDULE = PollSchedule()
#: consecutive failed polls (provider unavailable or an answer that cannot be read, each
#: already retried by the HTTP layer) after which the provider is given up on: about a
#: minute of polls at the default schedule's pace
MAX_FAILED_POLLS = 8
#: how long a status call may run past the deadline before it is abandoned
STATUS_GRACE = 5.0
#: a gap between the last two polls up to this share of the time is narrow (``PollTrace``)
NARROW_GAP = 0.1


async def wait_for_task(
    provider: Provider,
    task_id: str,
    *,
    wake: asyncio.Event | None = None,
    deadline: float = 900.0,
    on_update: OnUpdate | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    max_failed_polls: int = MAX_FAILED_POLLS,
    trace: PollTrace | None = None,
    before_poll: Callable[[], Awaitable[None]] | None = None,
) -> TaskStatus:
    """Poll until the task is SUCCEEDED or FAILED and return that terminal status.

    A FAILED status is returned, not raised: the caller decides (``failure_error`` in
    ``bot.providers.failures`` builds the matching exception). ``on_update`` is awaited whenever
    state, progress or image count change, the terminal status included. Transient poll errors
    (provider unavailable, rate limited, after the per-call retries) are logged and polling
    goes on; a Retry-After stretches the next pause. ``max_failed_polls`` failed polls in a
    row raise the last error, so the caller can fail over from a provider whose status
    endpoint is broken. ``wake`` is cleared when consumed. Raises ProviderTimeoutError once
    ``deadline`` seconds have passed (after one last poll).
    ``sleep``/``clock`` are injectable so tests run on virtual time. ``trace``, when given,
    is filled in with the poll times that bracket the task's finish; ``before_poll`` is
    awaited before each status request (the provider's poll budget).
    """
    now = clock or asyncio.get_running_loop().time
    start = now()
    end = start + deadline
    delays = schedule.delays()
    # Polls keep to the schedule's absolute times, so a slow status answer does not push
    # every later poll back (what matters is how soon after the task ends we notice).
    due = start + next(delays)
    seen: tuple[object, ...] | None = None
    failed_polls = 0
    while True:
        remaining = end - now()
        if remaining <= 0:
            raise ProviderTimeoutError(
                N_("{name} did not finish within {seconds} s."),
                name=provider.display_name,
                seconds=round(deadline),
                provider=provider.name,
            )
        woken = await _pause(min(max(0.0, due - now()), remaining), wake, sleep)
        if woken:
            log.debug("%s task %s: callback received, confirming", provider.name, task_id)
        try:
            # A status call still in flight at the deadline must not hold the job past it.
            async with asyncio.timeout(max(end - now(), 0.0) + STATUS_GRACE):
                if before_poll is not None:
                    await before_poll()
                asked = now() - start
                status = await provider.status(task_id)
        except TimeoutError:
            continue  # the deadline check at the top of the loop ends the wait
        except RateLimitedError as exc:
            due = max(_next_due(due, delays, now()), now() + (exc.retry_after or 0.0))
            log.info("%s task %s: rate limited while polling", provider.name, task_id)
            continue
        except ProviderUnavailableError as exc:
            failed_polls += 1
            if failed_polls >= max_failed_polls:
                raise
            due = _next_due(due, delays, now())
            log.info("%s task %s: poll failed (%s)", provider.name, task_id, exc.user_message)
            continue
        failed_polls = 0
        key = (status.state, status.progress, len(status.images))
        if key != seen:
            seen = key
            if on_update is not None:
                await on_update(status)
        if trace is not None:
            if status.state.finished:
                trace.finished, trace.woken = asked, woken
            else:
                trace.last_unfinished = asked
        if status.state.finished:
            return status
        due = _next_due(due, delays, now())


def _next_due(due: float, delays: Iterator[float], at: float) -> float:
    """The first scheduled poll time after ``at`` (skipping times already past)."""
    due += next(delays)
    while due <= at:
        due += next(delays)
    return due


async def _pause(seconds: float, wake: asyncio.Event | None, sleep: Sleep) -> bool:
    """Sleep ``seconds`` or until ``wake`` is set; True when woken (the event is cleared)."""
    if wake is None:
        await sleep(seconds)
        return False
    if not wake.is_set():
        sleeper = asyncio.ensure_future(sleep(seconds))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
    if wake.is_set():
        wake.clear()
        return True
    return False
