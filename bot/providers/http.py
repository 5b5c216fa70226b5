"""Shared HTTP plumbing: the client factory, URL joining, and status/body → error mapping.

Every message built here is safe to show a member: provider text is shortened, URLs are
replaced and the key is redacted (STYLE.md §1.2, PROVIDERS.md §1.6, §3.5, §4.6, §6.4).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import json
import math
import os
import re
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import certifi
import httpx

from bot import __version__
from bot.errors import (
    AuthenticationError,
    ContentFilteredError,
    InsufficientCreditsError,
    ModelUnavailableError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
    TaskFailedError,
)
from bot.models import TaskError, TaskStatus

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
#: "this provider does not serve that model" (Ark §6.4, OpenAI-style gateways, Pixazo's 404)
_MODEL_CODES = (
    "invalidendpoint",  # InvalidEndpoint.NotFound / .ClosedEndpoint, InvalidEndpointOrModel.*
    "modelnotopen",
    "modelnotfound",
    "model_not_found",
    "modelnotavailable",
    "model_not_available",
)
_MODEL_WORDS = re.compile(
    # between "model" and the verdict: the model id (dots inside a word only), one sentence
    r"\bmodel\b(?:[^.]|\.(?=\S)){0,60}?\b(does not exist|not (found|open|opened|activated|available"
    r"|supported|enabled)|unavailable|disabled|is closed)"
    r"|\bendpoint (is )?(not found|closed|does not exist)"
    r"|not activated the model|no available channel|无可用渠道",
    re.IGNORECASE,
)
#: headers a provider puts its request id in (Ark/ByteDance: X-Tt-Logid; Azure APIM, one-api)
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-tt-logid",
    "x-oneapi-request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-trace-id",
    "cf-ray",
)
#: Ark writes "... Request id: 0217..." into the error message; others a request_id field
_BODY_REQUEST_ID = re.compile(
    r"request[ _-]?id\W{0,4}([A-Za-z0-9][A-Za-z0-9._:-]{3,127})", re.IGNORECASE
)
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
#: a word holding this is a key the provider echoed back masked (``sk-ab****wxyz``)
_MASK = "***"
#: a run this long shared with a key means the key (or a piece of it) is in the text
_KEY_FRAGMENT = 8

#: a synchronous generation's read timeout (``sync_read_timeout``)
SYNC_BASE_SECONDS = 60.0
#: one 2K image: ~15 s typical at APIYI (PROVIDERS.md §5.3), with threefold headroom
SYNC_SECONDS_PER_IMAGE = 45.0
SYNC_REFERENCE_PIXELS = 2048 * 2048
SYNC_MAX_SECONDS = 1800.0


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


def proxy_mounts(
    limits: httpx.Limits = DEFAULT_LIMITS, **options: Any
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` read as httpx reads them,
    each proxy behind its own ``QueuedTransport``; a ``NO_PROXY`` host maps to None (direct).

    httpx only honours these variables when it builds its own transport, so a client with
    ``transport=QueuedTransport(...)`` would silently ignore them; ``mounts`` puts them back.
    """
    found = urllib.request.getproxies()  # the environment, as httpx reads it
    proxies = {
        f"{scheme}://": url if "://" in url else f"http://{url}"
        for scheme in ("http", "https", "all")
        if (url := found.get(scheme))
    }
    bypass: dict[str, None] = {}
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if host:
            bypass[_no_proxy_pattern(host)] = None
    if not proxies:
        return {}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: QueuedTransport(limits, proxy=httpx.Proxy(url), **options)
        for pattern, url in proxies.items()
    }
    return mounts | bypass


def _no_proxy_pattern(host: str) -> str:
    """One ``NO_PROXY`` entry as an httpx mount pattern (curl's rules, as httpx applies them)."""
    if "://" in host:
        return host
    try:
        address = ipaddress.ip_address(host.split("/")[0])  # "10.0.0.0/8" counts as an IP
    except ValueError:
        if host.lower() == "localhost":
            return f"all://{host}"
        return f"all://*{host}"  # "example.com" also covers its subdomains
    return f"all://[{host}]" if address.version == 6 else f"all://{host}"


def make_http_client(
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient the process shares (keys go per request, never on the client).

    Redirects are not followed: an API answering 3xx is a provider fault, and following one
    would carry the key (in whichever header) to wherever it points. Image downloads opt in
    per request, without any key. Environment proxies apply as in plain httpx (unless a
    ``transport`` is given, as in plain httpx).
    """
    mounts = None
    if transport is None:
        transport = QueuedTransport(DEFAULT_LIMITS, verify=ssl_context())
        mounts = proxy_mounts(DEFAULT_LIMITS, verify=ssl_context())
    return httpx.AsyncClient(
        verify=ssl_context(),
        timeout=timeout,
        limits=DEFAULT_LIMITS,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
        mounts=mounts,
    )


def sync_read_timeout(count: int, pixels: int) -> float:
    """Seconds to wait for a synchronous answer carrying ``count`` images of ``pixels`` each.

    ``60 + count x 45 x sqrt(pixels / 2048²)`` (the size factor at least 1/2): the provider
    generates the images one after another before it answers, and a larger image takes longer,
    though less than in proportion (APIYI: ~15 s at 2K, 30-60 s at 4K). Never below the
    client's default read timeout (180 s), never above 30 minutes. One 4K image: 180 s; four:
    420 s; fifteen: 1,410 s.
    """
    factor = max(math.sqrt(max(pixels, 1) / SYNC_REFERENCE_PIXELS), 0.5)
    seconds = SYNC_BASE_SECONDS + max(count, 1) * SYNC_SECONDS_PER_IMAGE * factor
    floor = DEFAULT_TIMEOUT.read or 0.0
    return min(max(seconds, floor), SYNC_MAX_SECONDS)


def with_read_timeout(timeout: httpx.Timeout, read: float) -> httpx.Timeout:
    """``timeout`` with its read part raised to ``read`` (the rest unchanged)."""
    return httpx.Timeout(
        connect=timeout.connect,
        read=max(read, timeout.read or 0.0),
        write=timeout.write,
        pool=timeout.pool,
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


def safe_text(text: object, secrets: Iterable[str] = (), *, limit: int = _MAX_TEXT) -> str:
    """Provider text made fit for a member's eyes (and a log line): no URLs, no key or piece
    of one, no control characters, one short line.

    Only the head of a long text is looked at (what is kept is short anyway), and every step
    is linear: a provider's text must not be able to stall the event loop.
    """
    clean = " ".join(_CONTROL.sub(" ", str(text)[: limit * 4]).split())
    secrets = [s for s in secrets if s]
    for secret in secrets:
        clean = clean.replace(secret, "[redacted]")
    clean = _URL.sub("<url>", clean)
    fragments = {
        s[i : i + _KEY_FRAGMENT] for s in secrets for i in range(len(s) - _KEY_FRAGMENT + 1)
    }
    clean = " ".join(
        "[redacted]" if _MASK in word or any(f in word for f in fragments) else word
        for word in clean.split(" ")
    )
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def request_id(headers: Mapping[str, str], body_text: str = "") -> str | None:
    """The provider's id for a request (to quote to its support): a header, else the body."""
    for name in REQUEST_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value and _SAFE_ID.fullmatch(value):
            return value
    match = _BODY_REQUEST_ID.search(body_text)
    return match.group(1) if match else None


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


def is_model_unavailable(code: str, message: str) -> bool:
    """True when the provider says it does not serve the model (or endpoint) asked for."""
    lowered = code.lower().replace(".", "")
    return any(c in lowered for c in _MODEL_CODES) or bool(_MODEL_WORDS.search(message))


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
    if is_model_unavailable(code, raw):
        return ModelUnavailableError(
            f"{display} does not offer this model right now{suffix}", provider=provider
        )
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
    elif is_model_unavailable(code_text, text):
        code_text = "model_unavailable"
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
    if error.code == "model_unavailable":
        return ModelUnavailableError(
            f"{display} does not offer this model right now: {error.message}", provider=provider
        )
    return TaskFailedError(
        f"{display} could not generate the image: {error.message}", provider=provider
    )


def unavailable(display: str, provider: str, why: str) -> ProviderUnavailableError:
    """A ProviderUnavailableError with a safe, specific message."""
    return ProviderUnavailableError(f"{display} {why}", provider=provider)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (defensive parsing)."""
    return value if isinstance(value, dict) else {}
