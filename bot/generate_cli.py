"""``seedream-bot generate``: try a provider from the command line.

Writes the images into ``--out`` and prints one path per line. A failure is one line on
stderr: exit 2 for a usage or validation problem (nothing was sent), 1 for anything else.
``--timeout`` bounds everything that talks to the provider; ``--out`` is checked before
anything is sent, and on a failure nothing is left behind in it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import math
import re
import socket
import ssl
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from bot.config import ENV_FILE, Settings
from bot.errors import (
    ConfigError,
    ImageError,
    ProviderError,
    ProviderTimeoutError,
    RequestValidationError,
    SeedreamError,
)
from bot.generation import GenerationResult, generate
from bot.images import inspect_image_async, sniff_image_type
from bot.log import RedactingFilter
from bot.models import GenerationRequest
from bot.providers import PROVIDER_TYPES
from bot.providers.base import ProviderConfig
from bot.providers.configure import build_provider, configured_providers
from bot.providers.http import make_http_client

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
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
_SIZE = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: providers whose API takes a reference image inline, as a ``data:`` URL: only Ark documents
#: it (PROVIDERS.md §6.2); PoYo, Vidgo, Pixazo, Apikley and APIYI take URLs only (§1-5)
INLINE_IMAGE_PROVIDERS = frozenset({"ark"})
#: Ark's limits on an input image (PROVIDERS.md §6.2)
MAX_INLINE_BYTES = 10 * 2**20
MAX_INLINE_PIXELS = 6000 * 6000


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``seedream-bot generate``."""
    parser.add_argument("prompt", metavar="PROMPT", help="what to draw")
    parser.add_argument("--provider", metavar="NAME", help="provider (default: the first one)")
    parser.add_argument("--model", metavar="M", help="model id (default: <PROVIDER>_MODEL)")
    parser.add_argument("--ratio", metavar="W:H", help="aspect ratio, e.g. 16:9")
    parser.add_argument("--resolution", metavar="TIER", help="1K, 2K, 3K or 4K")
    parser.add_argument("--size", metavar="WIDTHxHEIGHT", help="exact size, e.g. 2560x1440")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="images wanted")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed, where supported")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="URL|FILE",
        help="reference image: an http(s) URL, or a local PNG/JPEG/WebP file where the "
        "provider takes inline images (ark); repeatable",
    )
    parser.add_argument("--out", default="./out", metavar="DIR", help="output directory")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up after this long, submit, waiting and download included "
        "(default: JOB_DEADLINE_SECONDS)",
    )


async def generate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one generation; returns the process exit code."""
    out = Path(args.out)
    created: list[Path] = []
    retries = _RetryCauses()
    try:
        with _cli_logging(settings) as skipped, retries.installed():
            configs = configured_providers(settings, getattr(args, "env_file", ENV_FILE))
            config = _choose(configs, args.provider)
            _redact(config)
            deadline = settings.job_deadline_seconds if args.timeout is None else args.timeout
            if not (deadline > 0 and math.isfinite(deadline)):
                raise RequestValidationError("timeout", "must be a positive number of seconds.")
            references = await load_references(args.image, config, configs)
            request = build_request(args, references)
            async with make_http_client() as client:
                provider = build_provider(config, client)
                # Everything the user can get wrong is refused before a credit is spent.
                request = provider.validate(request)
                created = prepare_out_dir(out)
                result = await generate(provider, request, client=client, deadline=deadline)
            paths = write_images(result, out)
    except RequestValidationError as exc:
        return _fail(f"{OPTION_NAMES.get(exc.field, exc.field)}: {_detail(exc)}", EXIT_USAGE)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ProviderTimeoutError as exc:
        _remove(created)
        last = retries.last and describe_transport_error(retries.last)
        return _fail(exc.user_message + (f" Last error: {last}." if last else ""), EXIT_FAILED)
    except SeedreamError as exc:
        _remove(created)
        return _fail(describe_transport_error(exc) or exc.user_message, EXIT_FAILED)
    except OSError as exc:
        return _fail(f"cannot write images to {args.out}: {exc.strerror or exc}", EXIT_FAILED)
    except Exception as exc:  # the CLI prints one line, never a traceback
        _remove(created)
        log.debug("generate failed", exc_info=True)
        return _fail(f"unexpected {type(exc).__name__}", EXIT_FAILED)
    for path in paths:
        print(path)  # noqa: T201 - stdout is the CLI's output
    for message in skipped.messages:
        _stderr(f"note: {message}")
    if result.delivered < result.requested:
        _stderr(f"note: {result.delivered} of {result.requested} images delivered")
    return EXIT_OK


def build_request(args: argparse.Namespace, references: Sequence[str] = ()) -> GenerationRequest:
    """The request from the options and the resolved ``--image`` values (``load_references``);
    malformed values raise RequestValidationError."""
    width = height = None
    if args.size is not None:
        match = _SIZE.fullmatch(args.size.strip())
        if match is None or 0 in (int(match[1]), int(match[2])):
            raise RequestValidationError(
                "size", f"'{args.size}' is not WIDTHxHEIGHT, e.g. 2048x2048."
            )
        width, height = int(match[1]), int(match[2])
    return GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        aspect_ratio=args.ratio,
        resolution=args.resolution.upper() if args.resolution else None,
        width=width,
        height=height,
        count=args.count,
        seed=args.seed,
        reference_images=tuple(references),
    )


async def load_references(
    values: Sequence[str], config: ProviderConfig, configs: Sequence[ProviderConfig] = ()
) -> tuple[str, ...]:
    """``--image`` values as the provider takes them: URLs as given, local files inline.

    A local file is read and validated (PNG, JPEG or WebP, within Ark's size limits) and sent
    as a ``data:`` URL, where the provider accepts one; elsewhere it is refused, saying that
    the provider needs a URL. Raises RequestValidationError; nothing is sent.
    """
    display = PROVIDER_TYPES[config.name].display_name
    inline = config.name in INLINE_IMAGE_PROVIDERS
    references: list[str] = []
    for value in values:
        if value.startswith(("http://", "https://")) or (
            inline and value.startswith("data:image/")
        ):
            references.append(value)
        elif value.startswith("data:"):
            raise RequestValidationError(
                "image", f"{display} takes reference images as http(s) URLs, not data: URLs."
            )
        elif "://" in value:
            raise RequestValidationError("image", f"'{value}' is not an http(s) URL.")
        elif not inline:
            raise RequestValidationError("image", _needs_url(display, value, configs))
        else:
            references.append(await inline_image(value))
    return tuple(references)


def _needs_url(display: str, value: str, configs: Sequence[ProviderConfig]) -> str:
    others = [c.name for c in configs if c.name in INLINE_IMAGE_PROVIDERS]
    where = (
        f"or use --provider {others[0]}"
        if others
        else f"local files work with {', '.join(sorted(INLINE_IMAGE_PROVIDERS))} only"
    )
    return (
        f"{display} needs reference images as http(s) URLs, so the local file '{value}' "
        f"cannot be sent; upload it and pass its URL ({where})."
    )


async def inline_image(value: str) -> str:
    """The local image file ``value`` as a ``data:`` URL, validated like a member's upload."""
    data = await asyncio.to_thread(_read_image_file, value)
    try:
        info = await inspect_image_async(data, max_pixels=MAX_INLINE_PIXELS, label=f"'{value}'")
    except ImageError as exc:
        raise RequestValidationError("image", exc.user_message) from None
    return f"data:{info.mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def _read_image_file(value: str) -> bytes:
    path = Path(value).expanduser()
    try:
        if path.is_dir():
            raise RequestValidationError("image", f"'{value}' is a directory, not an image file.")
        size = path.stat().st_size
        if size > MAX_INLINE_BYTES:
            raise RequestValidationError(
                "image", f"'{value}' is {size / 2**20:.1f} MiB; at most 10 MiB can be sent."
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise RequestValidationError(
            "image", f"'{value}' is neither an http(s) URL nor an existing file."
        ) from None
    except OSError as exc:
        raise RequestValidationError(
            "image", f"cannot read '{value}': {exc.strerror or exc}."
        ) from None


def prepare_out_dir(out: Path) -> list[Path]:
    """Make sure images can be written to ``out`` before anything is sent.

    Creates it when missing and proves it writable with an anonymous temporary file.
    Returns the directories created here, outermost first, so a failed run can remove
    them again; raises RequestValidationError (field ``out``) naming the path.
    """
    missing: list[Path] = []
    try:
        probe = out
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        if not probe.is_dir():
            blocked = f"'{probe}' is a file" if probe == out else f"'{probe}' is not a directory"
            raise RequestValidationError("out", f"cannot write images to '{out}': {blocked}.")
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RequestValidationError(
            "out", f"cannot create '{out}': {exc.strerror or exc}."
        ) from None
    created = list(reversed(missing))
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        _remove(created)
        raise RequestValidationError(
            "out", f"cannot write images to '{out}': {exc.strerror or exc}."
        ) from None
    return created


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


class _RetryCauses:
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


class _SkippedImages(logging.Filter):
    """Holds back ``bot.downloads``' "result image skipped" warnings.

    A run that fails says why in its one line; one that delivers fewer images prints them
    as notes after the paths.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
            return False
        return True


@contextlib.contextmanager
def _cli_logging(settings: Settings) -> Iterator[_SkippedImages]:
    """Only warnings and errors on the CLI unless ``LOG_LEVEL=DEBUG`` (polls failing and
    being retried are the bot's business; the CLI's result is its one line)."""
    root = logging.getLogger()
    previous = root.level
    skipped = _SkippedImages()
    downloads = logging.getLogger("bot.downloads")
    if settings.log_level != "DEBUG":
        root.setLevel(max(logging.WARNING, previous))
        downloads.addFilter(skipped)
    try:
        yield skipped
    finally:
        root.setLevel(previous)
        downloads.removeFilter(skipped)


def _remove(created: list[Path]) -> None:
    """Remove the directories this run created (innermost first), if still empty."""
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            return


def write_images(result: GenerationResult, out: Path) -> list[Path]:
    """Write each image under ``out`` with its sniffed extension; never overwrites."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    paths: list[Path] = []
    for index, data in enumerate(result.images, start=1):
        ext = _EXTENSIONS[sniff_image_type(data) or "png"]
        stem = f"{result.provider}-{stamp}-{index}"
        for attempt in range(1000):
            path = out / (f"{stem}.{ext}" if attempt == 0 else f"{stem}-{attempt}.{ext}")
            try:
                with path.open("xb") as handle:  # "x": fail instead of overwriting
                    handle.write(data)
            except FileExistsError:
                continue
            paths.append(path)
            break
    return paths


def _choose(configs: list[ProviderConfig], wanted: str | None) -> ProviderConfig:
    if not configs:
        keys = ", ".join(f"{name.upper()}_API_KEY" for name in PROVIDER_TYPES)
        raise ConfigError("no provider is configured", f"set one of {keys}")
    if wanted is None:
        return configs[0]
    name = wanted.strip().lower()
    for config in configs:
        if config.name == name:
            return config
    if name not in PROVIDER_TYPES:
        raise RequestValidationError(
            "provider", f"'{wanted}' is not a known provider.", tuple(PROVIDER_TYPES)
        )
    raise RequestValidationError(
        "provider",
        f"'{name}' is not configured (set {name.upper()}_API_KEY).",
        tuple(c.name for c in configs),
    )


def _detail(exc: RequestValidationError) -> str:
    text = str(exc)
    prefix = f"`{exc.field}`: "
    return (text[len(prefix) :] if text.startswith(prefix) else text).replace("`", "'")


def _redact(config: ProviderConfig) -> None:
    """Register the key with the log redactor (``_cli_logging`` keeps INFO lines off)."""
    root = logging.getLogger()
    for handler in root.handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactingFilter):
                flt.add_secrets([config.api_key.get_secret_value()])


def _fail(message: str, code: int) -> int:
    _stderr(f"error: {message}")
    return code


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201 - the CLI's one line for the operator
