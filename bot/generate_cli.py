"""``seedream-bot generate``: one generation from the command line, through the bot's pipeline.

The providers are chosen and failed over as for a job (``bot.jobs.pipeline``); ``--provider``
pins the run to one of them.

Writes the images into ``--out`` and prints one path per line. A failure is one line on
stderr: exit 2 for a usage or validation problem (nothing was sent), 1 for anything else.
``--timeout`` bounds everything that talks to the provider; ``--out`` is checked before
anything is sent, and on a failure nothing is left behind in it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.config import ENV_FILE, Settings
from bot.core.errors import (
    ConfigError,
    ProviderTimeoutError,
    RequestValidationError,
    SeedreamError,
)
from bot.generate_errors import RetryCauses, describe_transport_error, usage_message
from bot.generate_inputs import (
    build_request,
    choose_provider,
    failover_chain,
    load_references,
    with_options,
)
from bot.images.validate import sniff_image_type
from bot.jobs.pipeline import GenerationResult, candidates, first_candidate, generate
from bot.jobs.preferences import load_styles
from bot.log import RedactingFilter
from bot.providers.base import ProviderConfig
from bot.providers.configure import build_provider, configured_providers
from bot.providers.transport import make_http_client

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``seedream-bot generate``."""
    parser.add_argument("prompt", metavar="PROMPT", help="what to draw")
    parser.add_argument(
        "--provider",
        metavar="NAME",
        help="only this provider (default: each configured one in turn, failing over as "
        "the bot does)",
    )
    parser.add_argument("--model", metavar="M", help="model id (default: <PROVIDER>_MODEL)")
    parser.add_argument(
        "--ratio", metavar="W:H", help="aspect ratio: a preset such as 16:9, or any W:H"
    )
    parser.add_argument("--resolution", metavar="TIER", help="1K, 2K, 3K or 4K")
    parser.add_argument(
        "--size",
        metavar="WIDTHxHEIGHT",
        help="exact size, e.g. 2560x1440, within the model's pixel and ratio bounds",
    )
    parser.add_argument("--count", type=int, default=1, metavar="N", help="images wanted")
    parser.add_argument(
        "--seed", type=int, metavar="S", help="random seed, where supported (-1: random)"
    )
    parser.add_argument(
        "--guidance", type=float, metavar="G", help="guidance scale 1-10 (Seedream 3.0 only)"
    )
    parser.add_argument(
        "--guide",
        action="store_true",
        help="the --image references guide a new image (as /imagine image: and /blend) "
        "instead of being edited",
    )
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="URL|FILE",
        help="reference image: an http(s) URL, or a local PNG/JPEG/WebP file where the "
        "provider takes inline images (ark); repeatable",
    )
    parser.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="a storyboard: N (2-15) frames of one consistent sequence, instead of --count",
    )
    parser.add_argument("--style", metavar="NAME", help="a style from STYLES_PATH (or shipped)")
    parser.add_argument(
        "--enhance",
        nargs="?",
        const="standard",
        metavar="MODE",
        help="prompt enhancement where the model offers it: standard (default) or fast",
    )
    parser.add_argument(
        "--format", metavar="FMT", help="output format where the model offers it: png or jpeg"
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
    retries = RetryCauses()
    try:
        with _cli_logging(settings) as skipped, retries.installed():
            configs = configured_providers(settings, getattr(args, "env_file", ENV_FILE))
            config = choose_provider(configs, args.provider)
            deadline = settings.job_deadline_seconds if args.timeout is None else args.timeout
            if not (deadline > 0 and math.isfinite(deadline)):
                raise RequestValidationError("timeout", "must be a positive number of seconds.")
            references = await load_references(args.image, config, configs)
            request = with_options(
                build_request(args, references),
                args,
                load_styles(settings.styles_path),
                max_frames=settings.max_storyboard_frames,
            )
            chain = failover_chain(
                config,
                configs,
                pinned=args.provider is not None,
                inline=any(ref.startswith("data:") for ref in references.urls),
            )
            _redact(chain)
            async with make_http_client() as client:
                providers = [build_provider(each, client) for each in chain]
                # Everything the user can get wrong is refused before a credit is spent.
                if not candidates(providers, request):
                    first_candidate(providers, request)
                created = prepare_out_dir(out)
                result = await generate(providers, request, client=client, deadline=deadline)
            paths = write_images(result, out)
    except RequestValidationError as exc:
        return _fail(usage_message(exc), EXIT_USAGE)
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


class _SkippedImages(logging.Filter):
    """Holds back ``bot.providers.downloads``' "result image skipped" warnings.

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
    downloads = logging.getLogger("bot.providers.downloads")
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


def _redact(configs: Sequence[ProviderConfig]) -> None:
    """Register the keys with the log redactor (``_cli_logging`` keeps INFO lines off)."""
    root = logging.getLogger()
    for handler in root.handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactingFilter):
                flt.add_secrets([config.api_key.get_secret_value() for config in configs])


def _fail(message: str, code: int) -> int:
    _stderr(f"error: {message}")
    return code


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201 - the CLI's one line for the operator
