"""PostgreSQL through the real doors: DATABASE_URL, ``check``, the root, migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.config import Settings
from bot.core.errors import ConfigError, SchemaTooNewError
from bot.jobs.image_store import ImageStore
from bot.root import EngineOptions, build_image_store, open_store
from bot.storage.postgres.pg_images import PgImageStore
from bot.storage.postgres.pg_pool import load_pg_migrations, migrate
from bot.storage.postgres.pg_store import PgStore
from bot.storage.sqlite.store import SqliteStore
from tests.test_cli import SECRET, TOKEN, error_lines, run_cli

PASSWORD = "pw-that-must-never-show-0123456789"


def with_password(url: str, password: str = PASSWORD) -> str:
    """``url`` with a user and password (the test server trusts any password)."""
    parts = urlsplit(url)
    netloc = f"postgres:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def closed_port_url() -> str:
    # port 1 on localhost: nothing listens there, the connection is refused at once
    return f"postgresql://bot:{PASSWORD}@127.0.0.1:1/bot"


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://bot:{PASSWORD}@db:3306/bot",
        f"postgresql://bot:{PASSWORD}@db:notaport/bot",
        f"postgresql://bot:{PASSWORD}@db:5432",
    ],
)
def test_a_bad_database_url_is_one_line_without_the_password(tmp_path: Path, url: str) -> None:
    result = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN, POYO_API_KEY=SECRET, DATABASE_URL=url)
    assert result.returncode == 2
    lines = [line for line in error_lines(result) if "DATABASE_URL" in line]
    assert len(lines) == 1, result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_check_reports_an_unreachable_server_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "check", DISCORD_TOKEN=TOKEN, POYO_API_KEY=SECRET, DATABASE_URL=closed_port_url()
    )
    assert result.returncode == 2
    assert error_lines(result) == [
        line for line in error_lines(result) if line.startswith("error: DATABASE_URL")
    ]
    [line] = error_lines(result)
    assert "127.0.0.1:1/bot" in line
    assert "Database: PostgreSQL at 127.0.0.1:1/bot" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_check_passes_on_a_reachable_server(tmp_path: Path, pg_url: str) -> None:
    url = with_password(pg_url)
    result = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN, POYO_API_KEY=SECRET, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    where = f"{urlsplit(url).hostname}:{urlsplit(url).port}{urlsplit(url).path}"
    assert f"Database: PostgreSQL at {where}" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert "OK: the bot can start." in result.stdout


def test_settings_keep_the_url_secret() -> None:
    settings = Settings(_env_file=None, database_url=closed_port_url())  # type: ignore[call-arg]
    assert settings.postgres_url() == closed_port_url()
    assert PASSWORD not in repr(settings) + str(settings.model_dump())
    assert Settings(_env_file=None, database_url="").postgres_url() is None  # type: ignore[call-arg]


async def test_the_root_opens_postgres_when_the_url_is_set(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=with_password(pg_url), database_path=tmp_path / "x.sqlite3"
    )
    store = await open_store(settings)
    try:
        assert isinstance(store, PgStore)
        assert await store.ping()
        assert isinstance(build_image_store(settings, store, EngineOptions()), PgImageStore)
        assert not (tmp_path / "x.sqlite3").exists()  # SQLite untouched
    finally:
        await store.close()


async def test_the_root_opens_sqlite_without_a_url(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_path=tmp_path / "x.sqlite3")  # type: ignore[call-arg]
    store = await open_store(settings)
    try:
        assert isinstance(store, SqliteStore)
        assert isinstance(build_image_store(settings, store, EngineOptions()), ImageStore)
    finally:
        await store.close()


async def test_the_root_names_database_url_when_the_server_is_unreachable() -> None:
    settings = Settings(_env_file=None, database_url=closed_port_url())  # type: ignore[call-arg]
    with pytest.raises(ConfigError) as caught:
        await open_store(settings)
    assert caught.value.variable == "DATABASE_URL"
    assert "127.0.0.1:1/bot" in str(caught.value)
    assert PASSWORD not in str(caught.value)


async def test_two_processes_starting_together_migrate_once(pg_url: str) -> None:
    # empty the migrated copy: each of the four connections (four server sessions, as four
    # processes would have) finds nothing applied; the advisory lock lets one migrate
    url = pg_url
    with psycopg.connect(url, autocommit=True) as conn:
        for table in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(f'DROP TABLE "{table[0]}" CASCADE')
    versions = await asyncio.gather(*(migrate(url) for _ in range(4)))
    latest = load_pg_migrations()[-1].version
    assert versions == [latest] * 4
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version,) for m in load_pg_migrations()]


async def test_a_database_of_a_newer_bot_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_x.sql')")
    with pytest.raises(SchemaTooNewError, match="999"):
        await PgStore.open(pg_url)
