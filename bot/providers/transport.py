"""Sending JSON requests with the retry policy of STYLE.md §2.3-2.5.

Idempotent calls (status queries, downloads) retry transport errors, 429 and 5xx with
exponential backoff and jitter, honouring ``Retry-After`` up to a cap, within bounded attempts
and total time. A submit is retried only when the request cannot have reached the provider
(connect error or connect timeout): a timeout or a 5xx on an in-flight POST may already have
created (and charged) a task.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import stamina

from bot.errors import ProviderError, ProviderUnavailableError, RateLimitedError
from bot.models import TaskState, TaskStatus
from bot.providers.http import body_code_and_message, error_from_response, request_id, safe_text

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a Retry-After longer than this is not slept through inside one call; the caller decides
MAX_INLINE_RETRY_AFTER = 20.0


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


@dataclass(frozen=True)
class Endpoint:
    """Who we are talking to, for error messages and redaction."""

    provider: str
    display: str
    secrets: tuple[str, ...] = ()


#: what a parser may raise on a body of the wrong shape; it is the provider's fault, not ours
PARSE_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)
#: how much of a provider's error text goes into the log line
LOG_TEXT = 300


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    endpoint: Endpoint,
    headers: Mapping[str, str],
    idempotent: bool,
    json_body: Any = None,
    params: Mapping[str, str] | None = None,
    check: Callable[[Any], None] | None = None,
    parse: Callable[[Any], T],
    http_timeout: httpx.Timeout | None = None,
) -> T:
    """Send one request (with retries) and return what ``parse`` makes of the decoded JSON
    body of a 2xx answer.

    ``check`` inspects a 2xx body and raises for errors carried inside it (KIE's ``code``),
    so those are retried like HTTP errors. ``parse`` runs inside the retry loop too: an answer
    it cannot read (wrong types, missing fields) is a ``ProviderUnavailableError``, retried
    when the call is idempotent and failed over otherwise, never an internal error. A 3xx is a
    provider fault as well: redirects are never followed here. Every error is logged with the
    provider's request id and its (sanitised) own words.
    """

    async def once() -> T:
        response = await _send(
            client, method, url, endpoint, headers, json_body, params, http_timeout
        )
        rid: str | None = None
        body: Any = None
        try:
            if response.is_redirect or 300 <= response.status_code < 400:
                rid = request_id(response.headers)
                raise ProviderUnavailableError(
                    f"{endpoint.display} answered with a redirect (HTTP {response.status_code}).",
                    provider=endpoint.provider,
                )
            if response.is_error:
                rid = request_id(response.headers, response.text[:4096])
                raise error_from_response(
                    response,
                    provider=endpoint.provider,
                    display=endpoint.display,
                    secrets=endpoint.secrets,
                )
            rid = request_id(response.headers)
            body = decode_json(response.content, endpoint)
            if check is not None:
                check(body)
            result = parse(body)
        except ProviderError as exc:
            exc.request_id = exc.request_id or rid
            _log_error(endpoint, method, url, response, exc, body=body)
            raise
        except PARSE_ERRORS as exc:
            error = ProviderUnavailableError(
                f"{endpoint.display} sent an unreadable answer.", provider=endpoint.provider
            )
            error.request_id = rid
            _log_error(endpoint, method, url, response, error, cause=exc)
            raise error from exc
        if isinstance(result, TaskStatus) and result.state is TaskState.FAILED:
            _log_failed_task(endpoint, method, url, response, rid, result)
        return result

    return await with_retries(once, idempotent=idempotent)


def _log_error(
    endpoint: Endpoint,
    method: str,
    url: str,
    response: httpx.Response,
    error: ProviderError,
    *,
    body: Any = None,
    cause: BaseException | None = None,
) -> None:
    """One line an operator can take to the provider's support.

    INFO, the bot's default level: the job's own failure is the warning, and the CLI keeps
    its one line of output.
    """
    said = ""
    if response.is_redirect:
        target = response.next_request.url if response.next_request else None
        said = f"redirect to {target.scheme}://{target.host}" if target else "redirect"
    elif cause is not None:
        said = f"unreadable answer ({type(cause).__name__})"
    elif response.is_error or body is not None:  # an error status, or one inside a 2xx body
        try:
            code, message = body_code_and_message(response.json() if body is None else body)
        except (ValueError, RecursionError):
            code, message = "", response.text[:LOG_TEXT]
        said = safe_text(f"{code} {message}".strip(), endpoint.secrets, limit=LOG_TEXT)
    log.info(
        "%s %s %s -> HTTP %d, %s (request id %s)%s",
        endpoint.provider,
        method,
        httpx.URL(url).path,
        response.status_code,
        type(error).__name__,
        error.request_id or "none",
        f": {said}" if said else "",
        exc_info=cause is not None and not isinstance(cause, (ValueError, TypeError, KeyError)),
    )


def _log_failed_task(
    endpoint: Endpoint,
    method: str,
    url: str,
    response: httpx.Response,
    rid: str | None,
    status: TaskStatus,
) -> None:
    error = status.error
    log.info(
        "%s %s %s -> task %s failed, %s (request id %s): %s",
        endpoint.provider,
        method,
        httpx.URL(url).path,
        safe_text(status.task_id, limit=80),
        error.code if error else "failed",
        rid or "none",
        error.message if error else "",
    )


async def _send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    endpoint: Endpoint,
    headers: Mapping[str, str],
    json_body: Any,
    params: Mapping[str, str] | None,
    http_timeout: httpx.Timeout | None = None,
) -> httpx.Response:
    path = httpx.URL(url).path
    # the client's own timeout unless a longer one is asked for (synchronous generations)
    extra: dict[str, Any] = {} if http_timeout is None else {"timeout": http_timeout}
    try:
        response = await client.request(
            method,
            url,
            headers=headers,
            json=json_body,
            params=params,
            follow_redirects=False,  # a redirect would carry the key along; see request_json
            **extra,
        )
    except httpx.TimeoutException as exc:
        log.debug("%s %s %s timed out", endpoint.provider, method, path)
        raise ProviderUnavailableError(
            f"{endpoint.display} did not answer in time.", provider=endpoint.provider
        ) from exc
    except httpx.TransportError as exc:
        log.debug("%s %s %s failed: %s", endpoint.provider, method, path, type(exc).__name__)
        raise ProviderUnavailableError(
            f"{endpoint.display} could not be reached.", provider=endpoint.provider
        ) from exc
    except (httpx.RequestError, httpx.InvalidURL) as exc:
        # a body that fails its Content-Encoding, a 3xx whose Location httpx cannot parse
        log.debug("%s %s %s unreadable: %s", endpoint.provider, method, path, type(exc).__name__)
        raise ProviderUnavailableError(
            f"{endpoint.display} sent an unreadable answer.", provider=endpoint.provider
        ) from exc
    log.debug("%s %s %s -> %s", endpoint.provider, method, path, response.status_code)
    return response


def decode_json(content: bytes, endpoint: Endpoint) -> Any:
    """Parse a body; anything that is not JSON is the provider being unwell."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ProviderUnavailableError(
            f"{endpoint.display} sent an unreadable answer.", provider=endpoint.provider
        ) from exc


def missing(endpoint: Endpoint, what: str) -> ProviderError:
    """The error for a 2xx answer that lacks a field we need."""
    return ProviderUnavailableError(
        f"{endpoint.display} sent an incomplete answer (no {what}).", provider=endpoint.provider
    )


def secret_values(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty secrets only (an empty string would redact everything)."""
    return tuple(v for v in values if v)
