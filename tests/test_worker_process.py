"""``seedream-bot worker``: jobs and the web server with no gateway connection."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import SECRET, error_lines, run_cli


def test_worker_on_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "worker", DISCORD_TOKEN="t.o.k", POYO_API_KEY=SECRET)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith("error: DATABASE_URL: the worker needs a PostgreSQL database")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_worker_with_an_invalid_database_url_says_so_once(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "worker",
        DISCORD_TOKEN="t.o.k",
        POYO_API_KEY=SECRET,
        DATABASE_URL="mysql://user:hunter2@db/bot",
    )
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith("error: DATABASE_URL: must be a PostgreSQL URL")
    assert "hunter2" not in result.stderr
