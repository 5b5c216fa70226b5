"""The domain knows nothing of discord.py; cogs hold no SQL, HTTP or Pillow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: besides bot/discord/, what knows of discord.py: the process and the composition root
DISCORD_MODULES = {"bot/launcher.py", "bot/root.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


DOMAIN = sorted(
    relative(path)
    for path in (ROOT / "bot").rglob("*.py")
    if relative(path) not in DISCORD_MODULES and not relative(path).startswith("bot/discord/")
)
COGS = sorted(relative(path) for path in (ROOT / "cogs").glob("*.py"))


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_modules_do_not_import_discord(module: str) -> None:
    imports = imported_modules(ROOT / module)
    assert not {name for name in imports if name.split(".")[0] == "discord"}, module


@pytest.mark.parametrize("module", COGS)
def test_cogs_are_glue_only(module: str) -> None:
    imports = {name.split(".")[0] for name in imported_modules(ROOT / module)}
    assert not imports & {"sqlite3", "aiosqlite", "httpx", "aiohttp", "PIL"}, module


def test_the_domain_list_is_not_empty() -> None:
    assert {"bot/jobs/engine.py", "bot/quota.py", "bot/providers/base.py"} <= set(DOMAIN)
