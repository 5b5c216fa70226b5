"""Shared HTTP plumbing: the client factory, URL joining, and status/body → error mapping.

Every message built here is safe to show a member: provider text is shortened, URLs are
replaced and the key is redacted (STYLE.md §1.2, PROVIDERS.md §1.6, §3.5, §4.6, §6.4).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import certifi
import httpx

from bot import __version__
from bot.core.errors import (
    AuthenticationError,
    ContentFilteredError,
    InsufficientCreditsError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
    TaskFailedError,
)
from bot.core.request import TaskError, TaskStatus

USER_AGENT = f"seedream-bot/{__version__}"
#: synchronous providers answer a 4K generation in 30-60 s (PROVIDERS.md §5.3); leave room
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=180.0, write=30.0, pool=30.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)
#: a Retry-After beyond this is clamped (a broken header must not park a job for hours)
MAX_RETRY_AFTER = 300.0
_MAX_TEXT = 200
_URL = re.compile(r"https?://\S+")
_VERSION_SEGMENT = re.compile(r"v\d+")
_FILTER_WORDS = (
    "sensitivecontentdetected",
    "content_filter",
    "content filter",
    "content policy",
    "sensitive information",  # Ark's and APIYI's wording
    "sensitive content",
)
_FILTER_CODES = ("sensitivecontent", "content_filter", "contentfilter")
_CREDIT_WORDS = ("insufficient", "credit", "accountoverdue", "balance")


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (loading the CA bundle costs ~50 ms).

    ``SSL_CERT_FILE`` still points at a private CA bundle, as it does for httpx.
    """
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())


class _SlotStream(httpx.AsyncByteStream):
    """A response body that gives its connection slot back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class QueuedTransport(httpx.AsyncBaseTransport):
    """The pooled transport, with waiting requests queued in an asyncio semaphore.

    httpcore's pool re-scans every waiting request against every connection each time a
    request starts or a response closes; with hundreds of jobs polling at once that queue
    alone saturated the event loop (docs/benchmarks.md, capacity: 1,000 jobs in flight, loop
    lag p99 0.7-0.9 s, 90 % of the CPU in ``_assign_requests_to_connections``). Here at most
    ``max_connections`` requests reach the pool, so its queue stays empty. A slot is held
    until the response is closed, like a pooled connection, and waiting for one honours the
    request's pool timeout.
    """

    def __init__(self, limits: httpx.Limits = DEFAULT_LIMITS, **options: Any) -> None:
        self._inner = httpx.AsyncHTTPTransport(limits=limits, **options)
        self._slots = asyncio.Semaphore(limits.max_connections or 100)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool_timeout = (request.extensions.get("timeout") or {}).get("pool")
        try:
            async with asyncio.timeout(pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection in time", request=request) from None
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._slots.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _SlotStream(response.stream, self._slots.release)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_http_client(
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient the process shares (keys go per request, never on the client)."""
    if transport is None:
        transport = QueuedTransport(DEFAULT_LIMITS, verify=ssl_context())
    return httpx.AsyncClient(
        verify=ssl_context(),
        timeout=timeout,
        limits=DEFAULT_LIMITS,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        transport=transport,
    )


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` where a base already ending in the version part is not doubled.

    ``https://h/api/v3`` + ``/api/v3/images`` → ``https://h/api/v3/images``; a proxy prefix
    (``https://h/proxy``) is kept.
    """
    base = base.rstrip("/")
    parsed = httpx.URL(base)
    base_parts = [p for p in parsed.path.split("/") if p]
    path_parts = [p for p in path.split("/") if p]
    for size in range(min(len(base_parts), len(path_parts)), 0, -1):
        head = path_parts[:size]
        if base_parts[-size:] == head and any(_VERSION_SEGMENT.fullmatch(p) for p in head):
            path_parts = path_parts[size:]
            break
    return base + "/" + "/".join(path_parts)


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


def safe_text(text: object, secrets: Iterable[str] = ()) -> str:
    """Provider text made fit for a member's eyes: no URLs, no key, one short line."""
    clean = " ".join(str(text).split())
    for secret in secrets:
        if secret:
            clean = clean.replace(secret, "[redacted]")
    clean = _URL.sub("<url>", clean)
    return clean if len(clean) <= _MAX_TEXT else clean[: _MAX_TEXT - 1] + "…"


def body_code_and_message(body: object) -> tuple[str, str]:
    """The error code and message from any of the providers' error shapes."""
    if not isinstance(body, dict):
        return "", str(body or "")
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        return str(code), str(error.get("message") or "")
    if isinstance(error, str):
        return "", error
    message = body.get("msg") or body.get("message") or body.get("detail") or ""
    if isinstance(message, (list, dict)):  # FastAPI validation detail
        message = json.dumps(message)[:_MAX_TEXT]
    return str(body.get("code") or ""), str(message)


def is_content_filter(code: str, message: str) -> bool:
    """True when the provider's words say its content filter fired."""
    lowered = code.lower().replace(".", "")
    text = message.lower()
    return any(c in lowered for c in _FILTER_CODES) or any(w in text for w in _FILTER_WORDS)


def error_from_status(
    status: int,
    body: object,
    *,
    provider: str,
    display: str,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Map an HTTP status (or a KIE body ``code``) and an error body to our hierarchy."""
    code, raw = body_code_and_message(body)
    detail = safe_text(raw, secrets)
    suffix = f": {detail}" if detail else "."
    words = f"{code} {raw}".lower().replace(" ", "")
    if is_content_filter(code, raw):
        return ContentFilteredError(
            f"{display}'s content filter blocked this request{suffix}", provider=provider
        )
    if status == 402 or any(w in words for w in _CREDIT_WORDS):
        return InsufficientCreditsError(f"{display} account is out of credits.", provider=provider)
    if status in (401, 403):
        # The provider's own words are left out: some echo a masked key back.
        return AuthenticationError(
            f"{display} refused the API key (HTTP {status}).", provider=provider
        )
    if status == 429:
        return RateLimitedError(
            f"{display} is rate limiting the bot; try again shortly.",
            provider=provider,
            retry_after=retry_after,
        )
    if status == 501:  # KIE: "generation failed"
        return TaskFailedError(f"{display} could not generate the image{suffix}", provider=provider)
    if status in (408, 455) or status >= 500:
        return ProviderUnavailableError(
            f"{display} is unavailable right now (HTTP {status}).", provider=provider
        )
    return RejectedRequestError(
        f"{display} rejected the request (HTTP {status}){suffix}", provider=provider
    )


def error_from_response(
    response: httpx.Response, *, provider: str, display: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """``error_from_status`` for an httpx response (body parsed leniently, Retry-After read)."""
    try:
        body: object = response.json()
    except ValueError:
        body = (
            response.text[:_MAX_TEXT] if "json" in response.headers.get("content-type", "") else ""
        )
    return error_from_status(
        response.status_code,
        body,
        provider=provider,
        display=display,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        secrets=secrets,
    )


#: a failed task that says the account ran dry (another provider may well serve the job)
_NO_CREDITS = re.compile(
    r"insufficient (credit|balance|fund)|out of (credit|balance)|not enough (credit|balance)"
    r"|credits? (exhausted|insufficient)|account ?overdue",
    re.IGNORECASE,
)
#: a failed task that says the provider itself broke (worth a try elsewhere)
_PROVIDER_FAULT = re.compile(
    r"internal (server )?error|temporarily unavailable|service unavailable|overloaded"
    r"|timed? ?out|try again later",
    re.IGNORECASE,
)


def task_error(code: object, message: object, secrets: Iterable[str] = ()) -> TaskError:
    """A failed task's error, classified: the content filter gets ``content_filter``, an
    empty account ``insufficient_credits``, and a fault of the provider's is ``retryable``."""
    code_text, text = str(code or ""), safe_text(message or "", secrets)
    retryable = False
    if is_content_filter(code_text, text):
        code_text = "content_filter"
    elif code_text == "402" or _NO_CREDITS.search(f"{code_text} {text}"):
        code_text = "insufficient_credits"
    elif code_text.startswith("5") or _PROVIDER_FAULT.search(text):
        retryable = True
    return TaskError(
        code=code_text or "failed",
        message=text or "The provider reported a failure.",
        retryable=retryable,
    )


def failure_error(status: TaskStatus, *, provider: str, display: str) -> ProviderError:
    """The exception a caller raises for a FAILED status (content filter or task failure)."""
    error = status.error or TaskError()
    if error.code == "content_filter":
        return ContentFilteredError(
            f"{display}'s content filter blocked this request: {error.message}", provider=provider
        )
    if error.code == "insufficient_credits":
        return InsufficientCreditsError(f"{display} account is out of credits.", provider=provider)
    return TaskFailedError(
        f"{display} could not generate the image: {error.message}", provider=provider
    )


def unavailable(display: str, provider: str, why: str) -> ProviderUnavailableError:
    """A ProviderUnavailableError with a safe, specific message."""
    return ProviderUnavailableError(f"{display} {why}", provider=provider)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (defensive parsing)."""
    return value if isinstance(value, dict) else {}
