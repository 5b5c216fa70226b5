"""The throwaway PostgreSQL of scripts/_pg.sh and the per-test databases of tests/pg_support.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.pg_support import URL_ENV

ROOT = Path(__file__).resolve().parents[2]


def _has_binaries() -> bool:
    probe = subprocess.run(
        ["bash", "-c", ". scripts/_pg.sh >/dev/null 2>&1 || true; _pg_bindir"],
        cwd=ROOT,
        env={**os.environ, URL_ENV: "given"},  # given: the script must not start a cluster here
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0


needs_binaries = pytest.mark.skipif(not _has_binaries(), reason="no initdb/pg_ctl on this machine")


def test_each_test_database_is_fresh_and_isolated(pg_databases: Callable[[], str]) -> None:
    first, second = pg_databases(), pg_databases()
    assert first != second
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE marker (x int)")
        conn.execute("INSERT INTO marker VALUES (1)")
    with psycopg.connect(second, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('marker') IS NOT NULL").fetchone()
    assert found == (False,)


def test_server_settings_are_tuned_for_tests(pg_url: str) -> None:
    if os.environ.get("TEST_DATABASE_THROWAWAY") != "1":
        pytest.skip("a server given by TEST_DATABASE_URL has its operator's settings")
    with psycopg.connect(pg_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["fsync", "synchronous_commit", "full_page_writes", "max_connections"],),
            ).fetchall()
        )
    assert settings["fsync"] == "off"
    assert settings["synchronous_commit"] == "off"
    assert settings["full_page_writes"] == "off"
    assert int(settings["max_connections"]) >= 300


def _run_script(body: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    script = "set -euo pipefail\n. scripts/_pg.sh\n" + textwrap.dedent(body)
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_binaries
def test_script_starts_a_cluster_and_the_trap_removes_it_even_on_failure() -> None:
    # the caller fails (exit 3) after using the cluster: the trap still stops and removes it
    probe = f"""
        {sys.executable} -c 'import os, psycopg; psycopg.connect(os.environ["{URL_ENV}"]).close()'
        echo "url=$TEST_DATABASE_URL"
        echo "dir=$_PG_DIR"
        exit 3
    """
    result = _run_script(probe)
    assert result.returncode == 3, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["url"].startswith("postgresql://postgres@127.0.0.1:")
    assert not Path(lines["dir"]).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(lines["url"], connect_timeout=5).close()


@needs_binaries
def test_script_leaves_a_given_url_alone() -> None:
    result = subprocess.run(
        ["bash", "-c", '. scripts/_pg.sh; echo "url=$TEST_DATABASE_URL dir=${_PG_DIR:-}"'],
        cwd=ROOT,
        env={**os.environ, URL_ENV: "postgresql://elsewhere/db"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "url=postgresql://elsewhere/db dir="


PROBE_TEST = """
def test_uses_postgres(pg_url):
    assert pg_url
"""


@pytest.mark.parametrize(
    ("ci", "outcome", "words"),
    [
        ("", "1 skipped", "SKIPPED"),
        ("true", "1 error", "CI=true, so the PostgreSQL tests must run"),
    ],
)
def test_without_a_server_postgres_tests_skip_visibly_or_fail_under_ci(
    tmp_path: Path, ci: str, outcome: str, words: str
) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE_TEST)
    (tmp_path / "conftest.py").write_text(
        "from tests.pg_support import pg_databases, pg_server, pg_template, pg_url\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in (URL_ENV, "CI")}
    env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in result.stdout, result.stdout
    assert words in result.stdout
    assert "./scripts/test" in result.stdout
