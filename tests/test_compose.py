"""compose.yaml, checked without a Docker engine: it parses, every bot service runs the
project's image with a command the CLI knows, the settings it sets are ones the bot reads
and accepts, and the ``run`` services share the gateway's shards exactly once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import build_parser, worker_problems
from bot.config import Settings, read_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
#: ``${NAME:?message}`` or ``${NAME}``: compose's interpolation from ``.env``
INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::\?[^}]*)?\}")
#: what the operator's ``.env`` holds (compose reads it for interpolation and env_file)
DOT_ENV = {"POSTGRES_PASSWORD": "pw-0123", "DISCORD_TOKEN": "t.o.k", "POYO_API_KEY": "sk-x"}


def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, dict[str, Any]] = document["services"]
    return found


def bots() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if name != "postgres"}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's own variables, interpolated as compose would from ``.env``."""
    return {
        name: INTERPOLATION.sub(lambda m: DOT_ENV[m.group(1)], str(value))
        for name, value in service.get("environment", {}).items()
    }


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the bot reads in that container (``.env`` then the service's own)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in {**DOT_ENV, **environment(service)}.items():
        monkeypatch.setenv(name, value)
    settings, problems = read_settings(None)
    assert problems == [], problems
    return settings


def test_every_bot_service_runs_the_project_image_after_the_database() -> None:
    assert set(services()) == {"postgres", "shard0", "shard1", "worker"}
    for name, service in bots().items():
        assert service["image"] == "seedream-bot:latest", name
        assert service["build"] == ".", name
        assert service["env_file"] == ".env", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "seedream-bot"]' in dockerfile
    assert "healthcheck" in services()["postgres"]


def test_the_commands_are_the_clis_two_runs_and_a_worker() -> None:
    commands = sorted(build_parser().parse_args(s["command"]).command for s in bots().values())
    assert commands == ["run", "run", "worker"]


def test_every_variable_set_is_a_setting_the_bot_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    known = {name.upper() for name in Settings.model_fields}
    postgres = environment(services()["postgres"])
    for name, service in bots().items():
        assert set(environment(service)) <= known, name
        settings = settings_of(service, monkeypatch)
        assert settings.database_url is not None, name
        url = urlsplit(settings.database_url.get_secret_value())
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
        assert url.path == f"/{postgres['POSTGRES_DB']}"
        assert (url.username, url.password) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
        )
        if service["command"] == ["worker"]:
            assert worker_problems(settings) == []


def test_the_run_services_share_every_shard_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: set[int | None] = set()
    shards: list[int] = []
    for service in bots().values():
        if service["command"] != ["run"]:
            continue
        settings = settings_of(service, monkeypatch)
        counts.add(settings.shard_count)
        shards.extend(settings.shard_ids or ())
    assert counts == {2}
    assert sorted(shards) == [0, 1]
