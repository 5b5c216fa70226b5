"""``seedream-bot generate``: try a provider from the command line.

Writes the images into ``--out`` and prints one path per line. A failure is one line on
stderr: exit 2 for a usage or validation problem (nothing was sent), 1 for anything else.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import ENV_FILE, Settings
from bot.errors import ConfigError, RequestValidationError, SeedreamError
from bot.generation import GenerationResult, generate
from bot.images import sniff_image_type
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
}
_SIZE = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


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
        "--image", action="append", default=[], metavar="URL", help="reference image (repeatable)"
    )
    parser.add_argument("--out", default="./out", metavar="DIR", help="output directory")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this")


async def generate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run one generation; returns the process exit code."""
    try:
        configs = configured_providers(settings, getattr(args, "env_file", ENV_FILE))
        config = _choose(configs, args.provider)
        _redact(config)
        request = build_request(args)
        deadline = settings.job_deadline_seconds if args.timeout is None else args.timeout
        if deadline <= 0:
            raise RequestValidationError("timeout", "must be a positive number of seconds.")
        async with make_http_client() as client:
            provider = build_provider(config, client)
            result = await generate(provider, request, client=client, deadline=deadline)
        paths = write_images(result, Path(args.out))
    except RequestValidationError as exc:
        return _fail(f"{OPTION_NAMES.get(exc.field, exc.field)}: {_detail(exc)}", EXIT_USAGE)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except SeedreamError as exc:
        return _fail(exc.user_message, EXIT_FAILED)
    except OSError as exc:
        return _fail(f"cannot write images to {args.out}: {exc.strerror or exc}", EXIT_FAILED)
    except Exception as exc:  # the CLI prints one line, never a traceback
        log.debug("generate failed", exc_info=True)
        return _fail(f"unexpected {type(exc).__name__}", EXIT_FAILED)
    for path in paths:
        print(path)  # noqa: T201 - stdout is the CLI's output
    if result.delivered < result.requested:
        _stderr(f"note: {result.delivered} of {result.requested} images delivered")
    return EXIT_OK


def build_request(args: argparse.Namespace) -> GenerationRequest:
    """The request from the options; malformed values raise RequestValidationError."""
    width = height = None
    if args.size is not None:
        match = _SIZE.fullmatch(args.size.strip())
        if match is None or 0 in (int(match[1]), int(match[2])):
            raise RequestValidationError(
                "size", f"'{args.size}' is not WIDTHxHEIGHT, e.g. 2048x2048."
            )
        width, height = int(match[1]), int(match[2])
    for url in args.image:
        if not url.startswith(("http://", "https://", "data:image/")):
            raise RequestValidationError("image", f"'{url}' is not an http(s) URL.")
    return GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        aspect_ratio=args.ratio,
        resolution=args.resolution.upper() if args.resolution else None,
        width=width,
        height=height,
        count=args.count,
        seed=args.seed,
        reference_images=tuple(args.image),
    )


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
    """Register the key with the log redactor, and keep httpx's per-request INFO lines quiet."""
    root = logging.getLogger()
    for handler in root.handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactingFilter):
                flt.add_secrets([config.api_key.get_secret_value()])
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # the provider's own words and request id go to the bot's log; the CLI prints one line
    logging.getLogger("bot.providers").setLevel(max(logging.WARNING, root.level))


def _fail(message: str, code: int) -> int:
    _stderr(f"error: {message}")
    return code


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201 - the CLI's one line for the operator
