"""What the PostgreSQL process benchmarks share: a server, a fresh database, bot processes.

``run_with_server(module, bench)`` gives ``bench`` a server URL: ``--url``, else
``TEST_DATABASE_URL``, else a throwaway cluster started through ``scripts/_pg.sh`` (as
``scripts/test`` does) around a re-run of ``module``. ``fresh_database`` makes a database of
the run's own (the processes migrate it at start) and drops it afterwards. The bot processes
are the real ``python -m bot run`` / ``worker`` of ``tests.botprocess``, pointed at the fakes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from bench.support import ROOT
from tests.botprocess import bot_env, free_port
from tests.fakes.discord_api import FakeDiscord
from tests.pg_support import create_database, drop_database, unique_name
from tests.providers.fakes import FakeProvider

URL_ENV = "TEST_DATABASE_URL"
TOKEN = "bench-discord-token"


def run_with_server(module: str, url: str | None, bench: Callable[[str], int]) -> int:
    """``bench(server_url)``, on a throwaway cluster when no URL is given."""
    url = url or os.environ.get(URL_ENV)
    if url:
        return bench(url)
    # no server given: the throwaway cluster of scripts/test, stopped by its trap
    script = f'. scripts/_pg.sh && [ -n "${{{URL_ENV}:-}}" ] && "$0" -m {module} "$@"'
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, *sys.argv[1:]], cwd=ROOT, check=False
    )
    if done.returncode != 0:
        print("no PostgreSQL run: give --url, set TEST_DATABASE_URL, or install initdb/pg_ctl")
    return done.returncode


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server (the bot migrates it), dropped at the end."""
    name = unique_name("bench")
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


def process_env(
    workdir: Path,
    discord: FakeDiscord,
    provider: FakeProvider,
    db_url: str,
    **extra: str,
) -> dict[str, str]:
    """One bot process's environment: the shipped defaults, plus PostgreSQL, callbacks to
    its own web server, and ``extra``."""
    port = free_port()
    env = bot_env(
        workdir,
        discord,
        provider,
        port,
        DISCORD_TOKEN=TOKEN,
        DATABASE_URL=db_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        **extra,
    )
    for name in ("JOB_STALL_TIMEOUT", "JOB_RECOVERY_INTERVAL", "MAX_JOBS_PER_USER"):
        if name not in extra:
            env.pop(name, None)  # the bot's defaults, not the caller's shell
    return env


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one statement, on a connection of its own."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()
