"""SHARD_IDS and SHARD_COUNT as an operator sets them: one ``error:`` line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import SECRET, error_lines, run_cli

BASE = {"DISCORD_TOKEN": "t.o.k", "POYO_API_KEY": SECRET}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"SHARD_IDS": "0,1"}, "SHARD_IDS", "needs SHARD_COUNT"),
        ({"SHARD_IDS": "0,2", "SHARD_COUNT": "2"}, "SHARD_IDS", "shard 2 is out of range"),
        ({"SHARD_IDS": "3,2", "SHARD_COUNT": "2"}, "SHARD_IDS", "shards 3, 2 are out of range"),
        ({"SHARD_IDS": "1,0,1", "SHARD_COUNT": "2"}, "SHARD_IDS", "lists shard 1 more than once"),
        ({"SHARD_IDS": "0,one", "SHARD_COUNT": "2"}, "SHARD_IDS", "digits only"),
        ({"SHARD_IDS": "-1", "SHARD_COUNT": "2"}, "SHARD_IDS", "digits only"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT", "greater than or equal to 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT", "integer"),
    ],
)
def test_bad_shard_settings_are_one_line_and_exit_2(
    tmp_path: Path, command: str, env: dict[str, str], variable: str, words: str
) -> None:
    result = run_cli(tmp_path, command, **BASE, **env)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith(f"error: {variable}: "), line
    assert words in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ({}, "Shards: all, as many as Discord recommends (SHARD_COUNT unset)"),
        ({"SHARD_COUNT": "3"}, "Shards: all 3 in this process"),
        ({"SHARD_IDS": " 2, 0 ,", "SHARD_COUNT": "4"}, "Shards: 2, 0 of 4"),
        ({"SHARD_IDS": "", "SHARD_COUNT": ""}, "Shards: all, as many as Discord recommends"),
    ],
)
def test_check_shows_the_shards_this_process_connects(
    tmp_path: Path, env: dict[str, str], shown: str
) -> None:
    result = run_cli(tmp_path, "check", **BASE, **env)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout
