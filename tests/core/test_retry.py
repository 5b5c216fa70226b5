"""bot.core.retry: Retry-After, the HTTP retry decisions, the rate-limited submit retry and the
windowed (delivery) backoff."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import stamina

from bot.core.errors import (
    AuthenticationError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
    TaskFailedError,
)
from bot.core.retry import (
    MAX_INLINE_RETRY_AFTER,
    MAX_RETRY_AFTER,
    MAX_SUBMIT_RETRY_WAIT,
    WindowedBackoff,
    idempotent_backoff,
    parse_retry_after,
    rate_limit_wait,
    retry_rate_limited,
    submit_backoff,
)
from bot.jobs.options import RunnerConfig

HOUR = 3600.0


def test_rate_limit_wait_prefers_retry_after_and_caps_it() -> None:
    assert rate_limit_wait(7.0, 0, backoff=2.0, max_wait=30.0) == 7.0
    assert rate_limit_wait(None, 0, backoff=2.0, max_wait=30.0) == 2.0
    assert rate_limit_wait(None, 2, backoff=2.0, max_wait=30.0) == 8.0
    assert rate_limit_wait(300.0, 0, backoff=2.0, max_wait=30.0) == 30.0
    assert rate_limit_wait(None, 10_000, backoff=2.0, max_wait=30.0) == 30.0


def test_the_runner_default_submit_wait_is_the_retry_module_cap() -> None:
    assert RunnerConfig().max_retry_wait == MAX_SUBMIT_RETRY_WAIT


class Calls:
    """A call that raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_retry_rate_limited_waits_what_the_policy_says_then_succeeds() -> None:
    call = Calls(RateLimitedError(retry_after=0.002), RateLimitedError())
    waits: list[float] = []
    result = await retry_rate_limited(
        call, retries=2, backoff=0.001, max_wait=1.0, on_retry=waits.append
    )
    assert (result, call.count) == ("ok", 3)
    assert waits == [0.002, 0.002]  # the Retry-After, then the backoff doubled once


async def test_retry_rate_limited_gives_up_after_the_bound() -> None:
    call = Calls(*(RateLimitedError(retry_after=0.001) for _ in range(5)))
    with pytest.raises(RateLimitedError):
        await retry_rate_limited(call, retries=2, backoff=0.001)
    assert call.count == 3


async def test_retry_rate_limited_never_retries_other_errors() -> None:
    call = Calls(ProviderUnavailableError())
    with pytest.raises(ProviderUnavailableError):
        await retry_rate_limited(call, retries=2, backoff=0.001)
    assert call.count == 1


async def test_retry_rate_limited_waits_the_retry_after_even_in_stamina_testing_mode() -> None:
    call = Calls(RateLimitedError(retry_after=25.0), RateLimitedError())
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with stamina.set_testing(True, attempts=1):
        result = await retry_rate_limited(call, retries=2, backoff=3.0, sleep=sleep)
    assert (result, call.count) == ("ok", 3)
    assert slept == [25.0, 6.0]  # the provider's demand, then the backoff doubled once


def test_windowed_backoff_schedule_and_window() -> None:
    policy = WindowedBackoff(window=24 * HOUR, backoff=2.0, first_hour_cap=60.0, max_delay=1800.0)
    assert [policy.next_wait(n, 0.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert policy.next_wait(500, HOUR - 1) == 60.0  # a minute at most in the first hour
    assert policy.next_wait(500, HOUR) == 120.0  # then the cap doubles every hour
    assert policy.next_wait(500, 20 * HOUR) == 1800.0  # never above the ceiling
    assert policy.next_wait(500, 24 * HOUR - 10) == 10.0  # never past the window's end
    assert policy.next_wait(1, 24 * HOUR) is None  # the window is spent: give up


# -- moved from tests/providers/test_http.py with the code


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        ("0.05", 0.05),
        (" 0 ", 0.0),
        ("-3", 0.0),
        ("99999", MAX_RETRY_AFTER),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    parsed = parse_retry_after(header, now=now)
    assert parsed is not None
    assert 28 <= parsed <= 31
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(
    ("exc", "decision"),
    [
        (RateLimitedError(retry_after=2.5), 2.5),
        (RateLimitedError(retry_after=0.0), 0.0),
        (RateLimitedError(), True),
        (RateLimitedError(retry_after=MAX_INLINE_RETRY_AFTER + 1), False),
        (ProviderUnavailableError(), True),
        (httpx.ReadError("x"), True),
        (RejectedRequestError(), False),
        (AuthenticationError(), False),
        (TaskFailedError(), False),
        (ValueError(), False),
    ],
)
def test_idempotent_backoff_decisions(exc: Exception, decision: bool | float) -> None:
    result = idempotent_backoff(exc)
    assert result == decision
    assert type(result) is type(decision)


def _caused(cause: BaseException) -> ProviderUnavailableError:
    try:
        raise ProviderUnavailableError() from cause
    except ProviderUnavailableError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (_caused(httpx.ConnectError("refused")), True),
        (_caused(httpx.ConnectTimeout("slow")), True),
        (httpx.ConnectError("refused"), True),
        (_caused(httpx.ReadTimeout("mid-flight")), False),
        (_caused(httpx.RemoteProtocolError("dropped")), False),
        (ProviderUnavailableError(), False),
        (RateLimitedError(retry_after=0.1), False),
    ],
)
def test_submit_retries_only_what_never_left(exc: Exception, retry: bool) -> None:
    assert submit_backoff(exc) is retry
