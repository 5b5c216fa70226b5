"""The one retry module: stamina policies, Retry-After and its caps, and the backoff schedules.

Every "wait and try again" of the bot is decided here (STYLE.md §2.3-2.5):

- provider HTTP calls (``with_retries``): idempotent calls (status queries, downloads) retry
  transport errors, 429 and 5xx with exponential backoff and jitter, honouring Retry-After up
  to ``MAX_INLINE_RETRY_AFTER``, within bounded attempts and total time. A submit is retried
  only when the request cannot have reached the provider (connect error or connect timeout):
  a timeout or a 5xx on an in-flight POST may already have created (and charged) a task;
- a submit the provider rate-limited (``retry_rate_limited``): a few more tries on the same
  provider, each wait the provider's Retry-After or the backoff, at most ``max_wait``;
- delivery of finished images (``WindowedBackoff``): tries for hours, the wait capped per hour.

A Retry-After header is read by ``parse_retry_after`` only, clamped to ``MAX_RETRY_AFTER``.
HTTP calls run on stamina; the two job-level schedules take the job runner's ``sleep``
(virtual time in tests), so a provider's demand is honoured even under ``stamina.set_testing``.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import stamina

from bot.core.errors import ProviderUnavailableError, RateLimitedError

T = TypeVar("T")

#: a Retry-After beyond this is clamped (a broken header must not park a job for hours)
MAX_RETRY_AFTER = 300.0
#: a Retry-After longer than this is not slept through inside one call; the caller decides
MAX_INLINE_RETRY_AFTER = 20.0
#: a rate-limited submit: tries on the same provider after the first, the backoff between
#: them (doubling) when no Retry-After came, and the longest wait
RATE_LIMIT_RETRIES = 2
RATE_LIMIT_BACKOFF = 2.0
MAX_SUBMIT_RETRY_WAIT = 30.0
HOUR = 3600.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), clamped."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """stamina's knobs for one kind of call."""

    attempts: int = 4
    timeout: float = 45.0
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5


IDEMPOTENT = RetryPolicy()
SUBMIT = RetryPolicy(attempts=3, timeout=20.0)


def idempotent_backoff(exc: Exception) -> bool | float:
    """stamina hook for status queries and downloads: True/float retries, False gives up.

    A float is the wait stamina uses instead of its own backoff: the provider's Retry-After.
    """
    if isinstance(exc, RateLimitedError):
        if exc.retry_after is None:
            return True
        return exc.retry_after if exc.retry_after <= MAX_INLINE_RETRY_AFTER else False
    return isinstance(exc, (ProviderUnavailableError, httpx.TransportError))


def submit_backoff(exc: Exception) -> bool:
    """stamina hook for a submit: only when the request never left this machine."""
    cause = exc if isinstance(exc, httpx.TransportError) else exc.__cause__
    return isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout))


async def with_retries(
    call: Callable[[], Awaitable[T]], *, idempotent: bool, policy: RetryPolicy | None = None
) -> T:
    """Run ``call`` under the idempotent or the submit retry policy."""
    policy = policy or (IDEMPOTENT if idempotent else SUBMIT)
    hook = idempotent_backoff if idempotent else submit_backoff
    async for attempt in stamina.retry_context(
        on=hook,
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


def rate_limit_wait(
    retry_after: float | None, retry: int, *, backoff: float, max_wait: float
) -> float:
    """The wait before the ``retry``-th (0-based) retry of a rate-limited submit: the
    provider's Retry-After when it gave one, else ``backoff`` doubling; never above ``max_wait``."""
    return min(retry_after or backoff * 2.0 ** min(retry, 64), max_wait)


async def retry_rate_limited(
    call: Callable[[], Awaitable[T]],
    *,
    retries: int,
    backoff: float,
    max_wait: float = MAX_SUBMIT_RETRY_WAIT,
    on_retry: Callable[[float], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``call``, trying again up to ``retries`` times while it raises ``RateLimitedError``.

    Every other error, and the last 429, propagate at once (the caller fails over).
    ``on_retry(wait)`` is told each wait before it starts (for the log). Unlike the HTTP
    policies this is not stamina's loop: the wait is the provider's own demand, honoured even
    under ``stamina.set_testing``, and ``sleep`` is the job runner's (virtual time in tests).
    """
    for retry in range(retries + 1):
        try:
            return await call()
        except RateLimitedError as exc:
            if retry >= retries:
                raise
            wait = rate_limit_wait(exc.retry_after, retry, backoff=backoff, max_wait=max_wait)
            if on_retry is not None:
                on_retry(wait)
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def windowed_delay(
    failures: int,
    elapsed: float,
    *,
    backoff: float,
    first_hour_cap: float,
    max_delay: float,
) -> float:
    """Seconds to wait after the ``failures``-th failure, ``elapsed`` seconds into a retry
    window: ``backoff`` doubling each time, at most ``first_hour_cap`` in the first hour, the
    cap doubling with every hour after that, never above ``max_delay``."""
    cap = first_hour_cap
    if elapsed >= HOUR:
        cap = first_hour_cap * 2.0 ** math.floor(elapsed / HOUR)
    # the exponent is bounded so a day of failures does not overflow a float
    wanted = backoff * 2.0 ** min(max(failures - 1, 0), 64)
    return max(0.0, min(wanted, cap, max_delay))


@dataclass(frozen=True)
class WindowedBackoff:
    """Retries for ``window`` seconds on the ``windowed_delay`` schedule (delivery of images)."""

    window: float
    backoff: float
    first_hour_cap: float
    max_delay: float

    def next_wait(self, failures: int, elapsed: float) -> float | None:
        """The wait before the next try, or None once the window is spent."""
        if elapsed >= self.window:
            return None
        delay = windowed_delay(
            failures,
            elapsed,
            backoff=self.backoff,
            first_hour_cap=self.first_hour_cap,
            max_delay=self.max_delay,
        )
        return min(self.window - elapsed, delay)
