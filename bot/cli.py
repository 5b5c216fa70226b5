"""The ``seedream-bot`` command: ``run``, ``generate`` and ``check``.

Every failure the operator can fix prints one line on stderr and exits non-zero (2 for
configuration and usage errors); no traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import __version__
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.generate_cli import add_generate_arguments, generate_command
from bot.generation import unknown_model_warnings
from bot.log import setup_logging
from bot.providers.base import ProviderConfig
from bot.providers.configure import configured_providers

EXIT_CONFIG = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_CONFIG, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(prog="seedream-bot", description="Seedream image models in Discord.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", default=".env", help="settings file read besides the environment"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("run", help="start the bot (the default)")
    sub.add_parser("check", help="validate the configuration and list the enabled providers")
    generate = sub.add_parser("generate", help="generate images from the command line")
    add_generate_arguments(generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m bot``."""
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings(args.env_file)
        if command == "check":
            return check_command(settings, args.env_file)
        if command == "generate":
            setup_logging(settings.log_level, settings.log_format, secrets=_secrets(settings))
            return asyncio.run(generate_command(args, settings))
        return run_command(settings, args.env_file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def check_command(settings: Settings, env_file: str) -> int:
    """Print what the bot would start with; exit 0 only when it could start."""
    providers = configured_providers(settings, env_file)
    print(f"Discord API: {settings.discord_api_base}")
    print(f"Database: {settings.database_path}")
    if settings.public_url:
        print(f"Callbacks: {settings.public_url}/callbacks/<provider>/<secret>")
    else:
        print("Callbacks: off (PUBLIC_URL unset), jobs are polled")
    print(f"Web server: {settings.http_host}:{settings.http_port}")
    print(f"Daily quota: {settings.default_daily_quota} images per member")
    print("Providers (the first serves, the rest fail over):")
    for index, config in enumerate(providers, start=1):
        print(f"  {index}. {config.name}  {config.base_url}  model {config.model}")
    if not providers:
        print("  none")
    for warning in unknown_model_warnings(providers):
        print(f"warning: {warning}")
    settings.require_token()
    _require_providers(providers)
    print("OK: the bot can start.")
    return 0


def run_command(settings: Settings, env_file: str) -> int:
    """Start the bot and block until it stops."""
    token = settings.require_token()
    providers = configured_providers(settings, env_file)
    _require_providers(providers)
    setup_logging(
        settings.log_level,
        settings.log_format,
        secrets=[token, *(p.api_key.get_secret_value() for p in providers)],
    )
    from bot.runner import run_bot  # discord.py is imported only when the bot really runs

    return asyncio.run(run_bot(settings, providers))


def _require_providers(providers: list[ProviderConfig]) -> None:
    if not providers:
        raise ConfigError(
            "POYO_API_KEY",
            "no provider is configured; set the API key of at least one provider "
            "(POYO, VIDGO, PIXAZO, APIKLEY, APIYI or ARK)",
        )


def _secrets(settings: Settings) -> list[str]:
    return [settings.discord_token.get_secret_value()] if settings.discord_token else []
