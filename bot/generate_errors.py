"""What a failed ``seedream-bot generate`` says: the option refused, the network error, retries."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator

import httpx
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from bot.core.errors import ProviderError, RequestValidationError
from bot.providers import PROVIDER_TYPES

log = logging.getLogger(__name__)

#: RequestValidationError fields → the option a CLI user typed
OPTION_NAMES = {
    "prompt": "PROMPT",
    "model": "--model",
    "ratio": "--ratio",
    "resolution": "--resolution",
    "size": "--size",
    "count": "--count",
    "image": "--image",
    "seed": "--seed",
    "provider": "--provider",
    "timeout": "--timeout",
    "out": "--out",
}


def usage_message(exc: RequestValidationError) -> str:
    """The one line for a refused option, named as the user typed it (``--ratio: ...``)."""
    return f"{OPTION_NAMES.get(exc.field, exc.field)}: {_detail(exc)}"


def _detail(exc: RequestValidationError) -> str:
    text = str(exc)
    prefix = f"`{exc.field}`: "
    return (text[len(prefix) :] if text.startswith(prefix) else text).replace("`", "'")


def describe_transport_error(exc: BaseException) -> str | None:
    """ "cannot reach PoYo at URL: connection refused" for a network failure, else None.

    Walks the exception's causes to the httpx error (its request names the URL tried) and
    the OS error below it. Never includes a key: those travel in headers, not URLs.
    """
    chain = _chain(exc)
    transport = next((e for e in chain if isinstance(e, httpx.TransportError)), None)
    if transport is None:
        return None
    provider = next((e.provider for e in chain if isinstance(e, ProviderError)), None)
    who = PROVIDER_TYPES[provider].display_name if provider in PROVIDER_TYPES else None
    who = who or "the image host"
    where = ""
    with contextlib.suppress(RuntimeError):  # an httpx error without its request
        url = transport.request.url
        where = f" at {url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"
    cause = _cause(chain, transport)
    if isinstance(transport, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)):
        return f"cannot reach {who}{where}: {cause}"
    if isinstance(transport, httpx.TimeoutException):
        return f"{who}{where} did not answer in time"
    return f"the connection to {who}{where} failed: {cause}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first.

    httpcore raises its errors ``from None`` with the OS error as their argument, so an
    exception argument counts as a cause too.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        wrapped = next((a for a in current.args if isinstance(a, BaseException)), None)
        context = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or context or wrapped
    return chain


def _cause(chain: list[BaseException], transport: httpx.TransportError) -> str:
    """The reason a connection failed, in a few words."""
    for exc in chain:
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, socket.gaierror):
            return f"host name not found ({exc.strerror})"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({exc.verify_message})"
        if isinstance(exc, ssl.SSLError):
            return f"TLS failed ({exc.reason or exc})"
        if isinstance(exc, (httpx.ConnectTimeout, TimeoutError)):
            return "connection timed out"
    reasons = [e.strerror for e in chain if isinstance(e, OSError) and e.strerror]
    if reasons:
        return reasons[-1][0].lower() + reasons[-1][1:]
    return str(transport) or type(transport).__name__


class RetryCauses:
    """stamina's retry hook for the CLI: remembers why calls were retried, prints nothing.

    The bot logs each scheduled retry as a WARNING; on the CLI those lines would bury the one
    line that matters, so they go to DEBUG instead, and a timeout can say what kept failing.
    """

    def __init__(self) -> None:
        self.last: BaseException | None = None

    def hook(self, details: RetryDetails) -> None:
        self.last = details.caused_by
        log.debug(
            "retrying %s in %.1f s after %s",
            details.name,
            details.wait_for,
            type(details.caused_by).__name__,
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = get_on_retry_hooks()
        set_on_retry_hooks([self.hook])
        try:
            yield
        finally:
            set_on_retry_hooks(previous)
