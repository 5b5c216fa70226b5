"""The ``seedream-bot`` command: ``run``, ``worker``, ``generate`` and ``check``.

Every failure the operator can fix prints one line on stderr and exits non-zero (2 for
configuration and usage errors); no traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bot import __version__
from bot.config import ENV_FILE, Settings, read_settings
from bot.core.errors import ConfigError, ConfigErrors, config_problems
from bot.dblock import database_lock
from bot.generate_cli import add_generate_arguments, generate_command
from bot.launcher import run_bot
from bot.log import setup_logging
from bot.providers import PROVIDER_TYPES
from bot.providers.base import ProviderConfig
from bot.providers.configure import collect_providers, unknown_model_warnings
from bot.storage.postgres.pg_pool import describe_url, probe

EXIT_CONFIG = 2
ENV_EXAMPLE = ".env.example"


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_CONFIG, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(prog="seedream-bot", description="Seedream image models in Discord.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help=f"settings file read besides the environment (default: {ENV_FILE}, if present)",
    )
    # Also accepted after the command (`check --env-file prod.env`); SUPPRESS keeps the
    # value given before the command when it is not repeated after it.
    env_file = _Parser(add_help=False)
    env_file.add_argument(
        "--env-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"settings file read besides the environment (default: {ENV_FILE}, if present)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("run", help="start the bot (the default)", parents=[env_file])
    sub.add_parser(
        "worker",
        help="run jobs and the web server without a gateway connection (needs DATABASE_URL)",
        parents=[env_file],
    )
    sub.add_parser(
        "check",
        help="validate the configuration and list the enabled providers",
        parents=[env_file],
    )
    generate = sub.add_parser(
        "generate", help="generate images from the command line", parents=[env_file]
    )
    add_generate_arguments(generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m bot``."""
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    default_env_file = args.env_file is None
    try:
        args.env_file = _readable_env_file(args.env_file)
        settings, problems = read_settings(args.env_file)
        if command == "check":
            return check_command(settings, args.env_file, problems)
        if command == "generate":
            if problems:
                raise ConfigErrors(problems)
        else:
            if command == "worker":
                problems = [*problems, *worker_problems(settings, problems)]
            providers = startup_providers(settings, args.env_file, problems)
    except ConfigError as exc:
        return _report(exc, env_hint=default_env_file)
    try:
        if command == "generate":
            setup_logging(settings.log_level, settings.log_format, secrets=_secrets(settings))
            return asyncio.run(generate_command(args, settings))
        return run_command(settings, providers, gateway=command == "run")
    except ConfigError as exc:  # found while starting, e.g. the web server's port is taken
        return _report(exc, env_hint=False)
    except KeyboardInterrupt:
        return 130


def check_command(settings: Settings, env_file: str, problems: list[ConfigError]) -> int:
    """Print what the bot would start with; exit 0 only when it could start.

    ``problems`` are those already found in the settings; every other one is added, and all
    of them are raised together after the summary.
    """
    settings_valid = not problems  # else the summary would show defaults, not what was set
    providers, problems = _collect(settings, env_file, problems)
    problems += _database_problems(settings)
    if settings_valid:
        _print_summary(settings, providers)
    if problems:
        raise ConfigErrors(problems)
    print("OK: the bot can start.")
    return 0


def _print_summary(settings: Settings, providers: list[ProviderConfig]) -> None:
    print(f"Discord API: {settings.discord_api_base}")
    url = settings.postgres_url()
    if url is None:
        print(f"Database: {settings.database_path}")
    else:
        print(f"Database: PostgreSQL at {describe_url(url)}")
    if settings.public_url:
        print(f"Callbacks: {settings.public_url}/callbacks/<provider>/<secret>")
    else:
        print("Callbacks: off (PUBLIC_URL unset), jobs are polled")
    print(f"Shards: {_shards(settings)}")
    print(f"Web server: {settings.http_host}:{settings.http_port}")
    print(f"Metrics: {settings.metrics_host}:{settings.metrics_port}")
    print(f"Daily quota: {settings.default_daily_quota} images per member")
    _print_cost_control(settings)
    print("Providers (the first serves, the rest fail over):")
    for index, config in enumerate(providers, start=1):
        print(f"  {index}. {config.name}  {config.base_url}  model {config.model}")
    if not providers:
        print("  none")
    for warning in unknown_model_warnings(providers):
        print(f"warning: {warning}")
    for note in callback_notes(settings.public_url, providers):
        print(f"note: {note}")


def callback_notes(public_url: str | None, providers: list[ProviderConfig]) -> list[str]:
    """Providers that will not get callbacks at this ``PUBLIC_URL`` and are polled instead."""
    if not public_url or public_url.startswith("https://"):
        return []
    return [
        f"{cls.display_name} sends callbacks to https:// URLs only; with PUBLIC_URL "
        f"{public_url} its jobs are polled"
        for cls in (PROVIDER_TYPES.get(config.name) for config in providers)
        if cls is not None and cls.https_callbacks_only
    ]


def _shards(settings: Settings) -> str:
    """Which gateway shards a ``run`` process connects."""
    count = settings.shard_count
    if count is None:
        return "all, as many as Discord recommends (SHARD_COUNT unset)"
    if settings.shard_ids is None:
        return f"all {count} in this process"
    return ", ".join(str(shard) for shard in settings.shard_ids) + f" of {count}"


def startup_providers(
    settings: Settings, env_file: str, problems: list[ConfigError]
) -> list[ProviderConfig]:
    """The providers to start with; every problem that stops the bot, raised together."""
    providers, problems = _collect(settings, env_file, problems)
    if problems:
        raise ConfigErrors(problems)
    return providers


def _print_cost_control(settings: Settings) -> None:
    """Which servers may spend the provider credits, and how much."""
    if settings.allowed_guild_ids:
        ids = ", ".join(str(i) for i in sorted(settings.allowed_guild_ids))
        print(f"Servers: only {ids} (others are left)")
        dev = settings.dev_guild_id
        if dev is not None and dev not in settings.allowed_guild_ids:
            print(f"warning: DEV_GUILD_ID {dev} is not in ALLOWED_GUILD_IDS; the bot will leave it")
    else:
        print("Servers: any (ALLOWED_GUILD_IDS unset)")
        print(
            "warning: any server that adds the bot can use it and spend the provider credits; "
            "set ALLOWED_GUILD_IDS and turn off Public Bot in the Developer Portal"
        )
    budget = settings.global_daily_budget
    print(
        "Global budget: "
        + ("no cap" if budget is None else f"{budget} images per UTC day across all servers")
    )
    print(
        f"Moderator ceilings: {settings.max_daily_quota} images per day "
        f"(allowances, budgets), {settings.max_grant} credits per grant"
    )


def worker_problems(settings: Settings, problems: Sequence[ConfigError] = ()) -> list[ConfigError]:
    """Why ``worker`` cannot start with these settings: it needs a database it can share.

    Nothing more when ``problems`` already has one with ``DATABASE_URL`` (invalid).
    """
    if settings.postgres_url() is not None or any(
        problem.variable == "DATABASE_URL" for problem in problems
    ):
        return []
    return [
        ConfigError(
            "DATABASE_URL",
            "the worker needs a PostgreSQL database shared with the run processes "
            "(set DATABASE_URL); on SQLite one `seedream-bot run` process already runs the jobs",
        )
    ]


def run_command(
    settings: Settings, providers: list[ProviderConfig], *, gateway: bool = True
) -> int:
    """Start the bot (``gateway=False``: the worker) and block until it stops."""
    token = settings.require_token()
    setup_logging(
        settings.log_level,
        settings.log_format,
        secrets=[
            token,
            *(p.api_key.get_secret_value() for p in providers),
            *_database_secrets(settings),
        ],
    )
    # one process per SQLite file; PostgreSQL takes many processes
    with (
        database_lock(settings.database_path)
        if settings.postgres_url() is None
        else contextlib.nullcontext()
    ):
        return asyncio.run(run_bot(settings, providers, gateway=gateway))


def _collect(
    settings: Settings, env_file: str, problems: list[ConfigError]
) -> tuple[list[ProviderConfig], list[ConfigError]]:
    """The settings' problems, then the providers', the token's, and "no provider"."""
    providers, provider_problems = collect_providers(settings, env_file)
    found = [*problems, *provider_problems]
    try:
        settings.require_token()
    except ConfigError:
        found.append(
            ConfigError(
                "DISCORD_TOKEN",
                f"is required to run the bot; set it in {env_file} or the environment "
                "(Developer Portal -> your application -> Bot -> Reset Token)",
            )
        )
    if not providers and not provider_problems:
        keys = ", ".join(f"{name.upper()}_API_KEY" for name in PROVIDER_TYPES)
        found.append(
            ConfigError(
                "<PROVIDER>_API_KEY",
                f"no provider is configured; set the API key of at least one: {keys}",
            )
        )
    return providers, found


def _readable_env_file(path: str | None) -> str:
    """The settings file to read: ``--env-file`` must exist; the default ``.env`` may not."""
    if path is None:
        if not Path(ENV_FILE).exists():
            return ENV_FILE
        path, option = ENV_FILE, ENV_FILE
    else:
        option = "--env-file"
    try:
        with Path(path).open("rb"):
            pass
    except FileNotFoundError:
        raise ConfigError(option, f"no such file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(option, f"{path} is a directory, not a settings file") from None
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def _report(error: ConfigError, *, env_hint: bool) -> int:
    """One ``error:`` line per problem; then, without a ``.env``, how to make one."""
    for problem in config_problems(error):
        print(f"error: {problem}", file=sys.stderr)
    if env_hint and not Path(ENV_FILE).exists():
        where = Path.cwd()
        if Path(ENV_EXAMPLE).is_file():
            print(
                f"hint: there is no {ENV_FILE} in {where}; start from the example: "
                f"cp {ENV_EXAMPLE} {ENV_FILE}",
                file=sys.stderr,
            )
        else:
            print(
                f"hint: there is no {ENV_FILE} in {where}; create one (the repository's "
                f"{ENV_EXAMPLE} lists every setting) or set the variables in the environment",
                file=sys.stderr,
            )
    return EXIT_CONFIG


def _secrets(settings: Settings) -> list[str]:
    token = [settings.discord_token.get_secret_value()] if settings.discord_token else []
    return [*token, *_database_secrets(settings)]


def _database_secrets(settings: Settings) -> list[str]:
    """``DATABASE_URL`` and its password, for the log filter to redact."""
    url = settings.postgres_url()
    if url is None:
        return []
    password = urlsplit(url).password
    return [url, *([password] if password else [])]


def _database_problems(settings: Settings) -> list[ConfigError]:
    """The PostgreSQL server of ``DATABASE_URL`` cannot be reached (one line why)."""
    url = settings.postgres_url()
    if url is None:
        return []
    reason = asyncio.run(probe(url))
    return [] if reason is None else [ConfigError("DATABASE_URL", reason)]
