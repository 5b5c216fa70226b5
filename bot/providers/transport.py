"""The HTTP client the providers share: the queued transport, proxies, TLS, timeouts, URLs."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
import os
import re
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import certifi
import httpx

from bot import __version__

USER_AGENT = f"seedream-bot/{__version__}"
#: synchronous providers answer a 4K generation in 30-60 s (PROVIDERS.md §5.3); leave room
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=180.0, write=30.0, pool=30.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16)
_VERSION_SEGMENT = re.compile(r"v\d+")
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
