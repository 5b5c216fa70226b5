"""The seam holds: the engine, quotas and moderation reach storage only through the
Protocols, and the Protocols say nothing of SQLite."""

from __future__ import annotations

import re

import pytest

from tests.test_layering import ROOT, imported_modules, relative

#: the domain that talks to storage (the engine and its runner via the ledger, quotas,
#: admission, moderation, callbacks)
DOMAIN = [
    "bot/jobs/engine.py",
    "bot/jobs/job_runner.py",
    "bot/jobs/ledger.py",
    "bot/jobs/callbacks.py",
    "bot/quotas/rules.py",
    "bot/quotas/admission.py",
    "bot/moderation/actions.py",
]
STORAGE_SIDE = {"sqlite3", "aiosqlite", "psycopg", "asyncpg"}


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_imports_no_store_implementation(module: str) -> None:
    imports = imported_modules(ROOT / module)
    assert not {name for name in imports if name.split(".")[0] in STORAGE_SIDE}, module
    assert not {name for name in imports if name.startswith("bot.storage.sqlite")}, module
    assert "bot.db" not in {name.rsplit(".", 1)[0] for name in imports} | imports, module


def test_the_protocols_say_nothing_of_sql() -> None:
    path = ROOT / "bot/storage/protocols.py"
    imports = imported_modules(path)
    assert not {name for name in imports if name.split(".")[0] in STORAGE_SIDE}
    assert all(not name.startswith("bot.storage.") for name in imports)
    code = path.read_text("utf-8")
    words = {"sqlite", "select", "insert", "update", "upsert", "delete", "commit", "rollback"}
    words |= {"cursor", "row", "rows", "query", "sql", "execute"}
    used = {part for name in re.findall(r"def (\w+)", code) for part in name.split("_")}
    assert not used & words


def test_no_private_call_into_a_database_library() -> None:
    offenders = [
        relative(path)
        for path in (ROOT / "bot").rglob("*.py")
        if "_execute" in path.read_text("utf-8") or "aiosqlite" in path.read_text("utf-8")
    ]
    assert offenders == []


def test_migrations_ship_inside_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'packages = ["bot", "cogs"]' in pyproject  # hatch ships non-Python files too
    shipped = sorted(p.name for p in (ROOT / "bot/storage/sqlite/migrations").glob("*.sql"))
    assert shipped[0] == "0001_initial.sql"
    assert not (ROOT / "bot/db").exists()


def test_aiosqlite_is_not_a_dependency() -> None:
    assert not re.search(r'^\s*"aiosqlite', (ROOT / "pyproject.toml").read_text(), re.M)
