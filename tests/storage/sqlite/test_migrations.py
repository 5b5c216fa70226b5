"""The migration runner: empty → latest, refusal of newer schemas, atomic steps."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.storage.sqlite.connection import (
    Database,
    Migration,
    SchemaTooNewError,
    load_migrations,
    split_statements,
)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_empty_database_reaches_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    try:
        assert await db.user_version() == load_migrations()[-1].version
        pragmas = await db.run_read(
            lambda conn: [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            ]
        )
        assert pragmas == [1, "wal", 5000]
    finally:
        await db.close()
    assert {"jobs", "job_images", "daily_usage", "guild_usage", "audit_log"} <= _tables(path)


async def test_tables_are_strict(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError):
            await db.run(
                lambda conn: conn.execute(
                    "INSERT INTO guild_usage (guild_id, day, used) VALUES (1, '2025-01-01', 'x')"
                )
            )
    finally:
        await db.close()


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    await (await Database.open(path)).close()
    db = await Database.open(path)
    try:
        assert await db.migrate() == load_migrations()[-1].version
    finally:
        await db.close()


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(SchemaTooNewError, match="999"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


async def test_each_intermediate_version_upgrades(tmp_path: Path) -> None:
    shipped = load_migrations()
    extra = [
        Migration(len(shipped) + 1, "x.sql", "CREATE TABLE extra_a (x INTEGER) STRICT;"),
        Migration(len(shipped) + 2, "y.sql", "CREATE TABLE extra_b (x INTEGER) STRICT;"),
    ]
    chain = [*shipped, *extra]
    for stop in range(len(chain) + 1):
        path = tmp_path / f"v{stop}.sqlite3"
        db = await Database.open(path, migrate=False)
        try:
            assert await db.migrate(chain[:stop]) == stop
            assert await db.migrate(chain) == len(chain)
        finally:
            await db.close()
        assert {"jobs", "extra_a", "extra_b"} <= _tables(path)


async def test_failed_migration_rolls_back_whole_step(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    db = await Database.open(path)
    base = await db.user_version()
    bad = Migration(base + 1, "bad.sql", "CREATE TABLE half (x INTEGER);\nSELECT * FROM nowhere;")
    try:
        with pytest.raises(sqlite3.OperationalError):
            await db.migrate([*load_migrations(), bad])
        assert await db.user_version() == base
    finally:
        await db.close()
    assert "half" not in _tables(path)


def test_split_statements_keeps_trigger_bodies_whole() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x INTEGER);
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 1;
        UPDATE t SET x = 2;
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].endswith("END;")


def test_shipped_migrations_are_numbered_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert load_migrations()[0].name == "0001_initial.sql"


async def test_global_usage_starts_from_the_guild_counters_it_upgrades(tmp_path: Path) -> None:
    """Jobs reserved before 0003 refund into ``global_usage``: it must already hold them."""
    path = tmp_path / "bot.sqlite3"
    shipped = load_migrations()
    version = next(m.version for m in shipped if m.name == "0003_global_usage.sql")
    db = await Database.open(path, migrate=False)
    try:
        await db.migrate(shipped[: version - 1])
        await db.run(
            lambda conn: conn.executemany(
                "INSERT INTO guild_usage (guild_id, day, used) VALUES (?, ?, ?)",
                [(1, "2025-03-14", 4), (2, "2025-03-14", 3), (1, "2025-03-13", 2)],
            )
        )
        await db.migrate()
        rows = await db.run_read(
            lambda conn: conn.execute("SELECT day, used FROM global_usage ORDER BY day").fetchall()
        )
    finally:
        await db.close()
    assert [tuple(r) for r in rows] == [("2025-03-13", 2), ("2025-03-14", 7)]
