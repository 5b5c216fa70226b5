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
    assert {"bot/jobs/engine.py", "bot/quotas/rules.py", "bot/providers/base.py"} <= set(DOMAIN)


# -- issue 12: layers and names

#: basenames shared by two modules on purpose: none; never add a pair to it
KNOWN_SHARED_BASENAMES: frozenset[str] = frozenset()


def modules_under(*tops: str) -> list[Path]:
    return sorted(path for top in tops for path in (ROOT / top).rglob("*.py"))


#: the modules whose imports were untangled so far (issue 12); the rest follow
UNTANGLED = [
    *(relative(p) for p in modules_under("bot/core", "bot/images", "bot/providers", "bot/jobs")),
    "bot/generate_cli.py",
    "bot/generate_errors.py",
    "bot/generate_inputs.py",
]


def test_no_two_modules_share_a_basename() -> None:
    seen: dict[str, list[str]] = {}
    for path in modules_under("bot", "cogs"):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.name, []).append(relative(path))
    shared = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert set(shared) <= KNOWN_SHARED_BASENAMES, shared
    # a pair that is gone must leave the allow-list too
    assert set(shared) >= KNOWN_SHARED_BASENAMES, KNOWN_SHARED_BASENAMES - set(shared)


CORE = sorted(relative(path) for path in modules_under("bot/core"))


@pytest.mark.parametrize("module", CORE)
def test_core_imports_nothing_of_the_bot_outside_core(module: str) -> None:
    imports = imported_modules(ROOT / module)
    outside = {name for name in imports if name.split(".")[0] == "bot"}
    assert {name for name in outside if not name.startswith("bot.core")} == set(), module


def nested_imports(path: Path) -> list[str]:
    """Imports below module level (in a function, class or ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        f"{relative(path)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset > 0
    ]
    if "TYPE_CHECKING" in path.read_text():
        found.append(f"{relative(path)}: TYPE_CHECKING")
    return found


@pytest.mark.parametrize("module", UNTANGLED)
def test_untangled_modules_import_at_module_level_only(module: str) -> None:
    assert nested_imports(ROOT / module) == []


@pytest.mark.parametrize(
    "module",
    [relative(p) for p in modules_under("bot", "cogs") if p.read_text().strip()],
)
def test_every_module_starts_with_a_docstring(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    docstring = ast.get_docstring(tree)
    assert docstring, module
    assert docstring.splitlines()[0].strip(), module


#: who may read ``Settings``: the composition root, the process and the command line (and
#: the provider configuration the command line shares with the root)
SETTINGS_READERS = {
    "bot/config.py",
    "bot/root.py",
    "bot/launcher.py",
    "bot/cli.py",
    "bot/generate_cli.py",
    "bot/providers/configure.py",
}


@pytest.mark.parametrize("module", sorted({*DOMAIN, *COGS} - SETTINGS_READERS))
def test_only_the_root_builds_from_settings(module: str) -> None:
    """Everything else gets its collaborators (and the values it needs) passed in."""
    assert "bot.config" not in imported_modules(ROOT / module), module


DISCORD_LAYER = sorted(relative(path) for path in (ROOT / "bot" / "discord").glob("*.py"))


@pytest.mark.parametrize("module", [*DISCORD_LAYER, *COGS])
def test_no_import_hides_a_cycle(module: str) -> None:
    """No function-level and no ``TYPE_CHECKING`` imports in the Discord layer and the cogs."""
    tree = ast.parse((ROOT / module).read_text(), filename=module)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"{module}: import inside {node.name}()"
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            raise AssertionError(f"{module}: TYPE_CHECKING import")


def test_the_discord_client_does_not_discover_its_cogs() -> None:
    """Extensions load from an explicit tuple; the client does not import the cogs package."""
    assert not {
        name
        for name in imported_modules(ROOT / "bot/discord/app.py")
        if name.split(".")[0] == "cogs"
    }


def test_every_cog_module_is_an_initial_extension() -> None:
    from bot.discord.app import INITIAL_EXTENSIONS

    listed = {f"cogs.{path.stem}" for path in (ROOT / "cogs").glob("*.py")}
    public = {name for name in listed if not name.rsplit(".", 1)[1].startswith("_")}
    assert set(INITIAL_EXTENSIONS) == public
    assert len(INITIAL_EXTENSIONS) == len(set(INITIAL_EXTENSIONS))


@pytest.mark.parametrize("module", [*DOMAIN, *DISCORD_LAYER, *COGS])
def test_no_implicit_door_context_and_no_private_discord_writes(module: str) -> None:
    text = (ROOT / module).read_text()
    assert "ContextVar" not in text, module
    assert "._params" not in text, module
