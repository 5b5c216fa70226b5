"""Fetching result images at once (provider links expire within hours, PROVIDERS.md §9).

All URLs are fetched concurrently, streamed under a byte cap, retried like status queries and
sniffed: only PNG, JPEG or WebP bytes are returned. A finished task may deliver fewer images
than asked, and a single bad image (dead link, HTML page, too large) is skipped with a warning:
the caller gets every usable image, in order, and an error only when none is usable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Sequence

import httpx

from bot.errors import (
    ImageError,
    ProviderUnavailableError,
    RateLimitedError,
    SeedreamError,
    TaskFailedError,
)
from bot.images import sniff_image_type
from bot.models import ResultImage
from bot.providers.http import parse_retry_after
from bot.providers.transport import with_retries

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 2**20


async def download_images(
    client: httpx.AsyncClient,
    images: Sequence[ResultImage],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[bytes]:
    """The bytes of every usable image in ``images``, in order (at least one, or an error).

    Raises TaskFailedError when there is nothing to fetch, else the first failure when no
    image is usable (ImageError, ProviderUnavailableError or RateLimitedError).
    """
    if not images:
        raise TaskFailedError("The provider finished but sent no images.")
    results = await asyncio.gather(
        *(_one(client, image, max_bytes) for image in images), return_exceptions=True
    )
    usable: list[bytes] = []
    failures: list[Exception] = []
    for index, result in enumerate(results):
        if isinstance(result, bytes):
            usable.append(result)
        elif isinstance(result, Exception):
            log.warning("result image %d of %d skipped: %s", index + 1, len(images), _why(result))
            failures.append(result)
        else:  # CancelledError and friends are not ours to swallow
            raise result
    if not usable:
        raise failures[0]
    return usable


async def _one(client: httpx.AsyncClient, image: ResultImage, max_bytes: int) -> bytes:
    if image.data is not None:
        data = image.data
    elif image.url and image.url.startswith("data:"):
        data = _data_url(image.url)
    elif image.url:
        url = image.url
        data = await with_retries(lambda: fetch(client, url, max_bytes), idempotent=True)
    else:
        raise ImageError("A result carried neither a link nor image data.")
    if len(data) > max_bytes:
        raise ImageError(f"A generated image is larger than {max_bytes // 2**20} MiB.")
    if sniff_image_type(data) is None:
        raise ImageError("A result link did not serve a PNG, JPEG or WebP image.")
    return data


#: the only headers an image download sends: whatever else the client carries by default
#: (an ``Authorization``, ``x-api-key``, ``api-key`` or a gateway's subscription key) stays home
DOWNLOAD_HEADERS = frozenset({"host", "user-agent", "accept", "accept-encoding", "connection"})


def download_request(client: httpx.AsyncClient, url: str) -> httpx.Request:
    """A GET for ``url`` that carries no credential and no cookie, only ``DOWNLOAD_HEADERS``.

    Result links are signed URLs that need nothing else; a link that redirects (to a CDN, or
    anywhere) must not take a provider's key along, whichever header it travels in.
    """
    request = client.build_request("GET", url)
    for name in list(request.headers):
        if name.lower() not in DOWNLOAD_HEADERS:
            del request.headers[name]
    return request


#: redirects one download may follow (httpx's own default is 20)
MAX_REDIRECTS = 10


async def fetch(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    """GET ``url`` streamed (following redirects), aborting past ``max_bytes``; errors mapped
    for the retry policy."""
    try:
        response = await _follow(client, url)
        async with contextlib.aclosing(response):
            status = response.status_code
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise RateLimitedError("The image host is rate limiting.", retry_after=retry_after)
            if status >= 500 or status == 408:
                raise ProviderUnavailableError(f"The image host failed (HTTP {status}).")
            if status >= 400:
                raise ImageError(f"A generated image could not be fetched (HTTP {status}).")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageError(f"A generated image is larger than {max_bytes // 2**20} MiB.")
            buffer = bytearray()
            async for chunk in response.aiter_bytes():
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise ImageError(f"A generated image is larger than {max_bytes // 2**20} MiB.")
            return bytes(buffer)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ImageError("A result link is not a usable URL.") from exc
    except httpx.TimeoutException as exc:
        raise ProviderUnavailableError("The image host did not answer in time.") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailableError("The image host could not be reached.") from exc
    except httpx.DecodingError as exc:  # a body that fails its own Content-Encoding
        raise ImageError("A generated image arrived damaged.") from exc


async def _follow(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """The streamed answer for ``url`` after its redirects, each hop a fresh bare request.

    Followed by hand rather than by httpx so that no hop carries anything of the client's
    (httpx would re-add the client's cookies, and keep other auth headers cross-origin).
    """
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(
            download_request(client, url), stream=True, follow_redirects=False
        )
        if not (response.is_redirect and response.next_request is not None):
            return response
        url = str(response.next_request.url)
        await response.aclose()
    raise ImageError("A generated image's link redirects in circles.")


def _data_url(url: str) -> bytes:
    _, _, payload = url.partition(",")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("An image arrived damaged.") from None


def _why(exc: Exception) -> str:
    return exc.user_message if isinstance(exc, SeedreamError) else type(exc).__name__
