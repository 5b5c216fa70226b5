"""No user-facing text outside the catalog: a scan of the source for English literals that
reach Discord without passing through ``texts._``/``ngettext``/``N_``.

It looks where text meets a reader: embed titles, fields, footers, button labels, choice
names, message contents, replies, and the messages of the bot's errors. A failure lists
each offender as ``path:line: text``; wrap it (``texts._("…")`` where a ``Texts`` is at
hand, ``N_("…")`` for a constant or an error message), then run ``scripts/i18n update``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import bot
from bot.core.errors import ConfigError, SeedreamError

ROOT = Path(__file__).resolve().parents[2]
#: where a Discord reader sees text
SCANNED = ("bot/discord", "cogs")
#: keyword arguments whose value a reader sees
SHOWN_KEYWORDS = frozenset(
    {"title", "description", "name", "value", "label", "placeholder", "text", "content"}
)
#: calls whose first positional argument a reader sees
SHOWN_CALLS = frozenset(
    {"send", "send_message", "reply", "send_to_member", "reply_to_message", "edit_message"}
)
#: calls that take a message to the catalog (their arguments are fine)
CATALOG_CALLS = frozenset({"_", "ngettext", "pgettext", "N_"})
#: app-command decorators (their strings go through the command translator) and calls whose
#: ``name=`` no reader sees
TREE_CALLS = frozenset({"command", "describe", "ContextMenu", "choices", "rename", "create_task"})
#: errors whose first argument is an option's name, and the message comes second
FIELD_FIRST = frozenset({"RequestValidationError"})
#: the CLI door speaks English to the operator's terminal (README: seedream-bot generate)
CLI_ONLY = ("bot/cli.py", "bot/generate_cli.py", "bot/generate_inputs.py", "bot/generate_errors.py")
#: a provider's failures carry its own words (and its name): logged and kept in the ledger in
#: English; a reader in another language gets the error kind's translated general message
#: (``bot/discord/replies.py`` ``error_text``, ``render.reason_text``). Model labels are names.
DIAGNOSTICS = (
    "bot/providers/failures.py",
    "bot/providers/calls.py",
    "bot/providers/downloads.py",
    "bot/providers/adapter.py",
    "bot/providers/parsing.py",
    "bot/providers/apikley.py",
    "bot/providers/ark.py",
    "bot/providers/unified.py",
    "bot/web/",  # answers to HTTP clients (providers' callbacks, probes), not to members
)
#: words in a literal: two letters in a row (ids, mentions, emoji and punctuation pass)
WORDS = re.compile(r"[^\W\d_]{2,}")


def error_classes() -> set[str]:
    """Names of the bot's errors that reach members (operator-facing config errors don't)."""
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)
    found, todo = set(), [SeedreamError]
    while todo:
        cls = todo.pop()
        if not issubclass(cls, ConfigError):
            found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _text(node: ast.expr) -> str | None:
    """The English words of a literal or f-string, or None when it has none."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    else:
        return None
    return text if WORDS.search(text) else None


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


class Scanner(ast.NodeVisitor):
    """Collects (line, text) of literals shown to readers outside the catalog."""

    def __init__(self, errors: set[str]) -> None:
        self.errors = errors
        self.found: list[tuple[int, str]] = []

    def visit_Call(self, node: ast.Call) -> None:
        name = _called(node)
        if name in CATALOG_CALLS or name in TREE_CALLS:
            return  # translated here, or by the command translator
        shown: list[ast.expr] = [
            keyword.value for keyword in node.keywords if keyword.arg in SHOWN_KEYWORDS
        ]
        if name in SHOWN_CALLS or name in self.errors:
            shown += node.args[1:2] if name in FIELD_FIRST else node.args[:1]
        for value in shown:
            self._check(value)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # ``user_message = "…"`` on an error class, and module constants shown later
        names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if "user_message" in names or any(n.isupper() and "MESSAGE" in n for n in names):
            self._check(node.value)
        self.generic_visit(node)

    def _check(self, value: ast.expr) -> None:
        if isinstance(value, ast.IfExp):
            self._check(value.body)
            self._check(value.orelse)
            return
        text = _text(value)
        if text is not None:
            self.found.append((value.lineno, text))


def offenders(paths: list[Path], errors: set[str]) -> list[str]:
    found = []
    for path in paths:
        scanner = Scanner(errors)
        scanner.visit(ast.parse(path.read_text(), str(path)))
        found += [f"{path.relative_to(ROOT)}:{line}: {text!r}" for line, text in scanner.found]
    return found


def sources() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))


def test_no_user_facing_literal_outside_the_catalog() -> None:
    errors = error_classes()
    every_error = sorted(ROOT.joinpath("bot").rglob("*.py"))
    found = offenders(sources(), errors)
    # errors raised anywhere in the bot reach members through bot/discord/replies.py
    found += [
        line
        for line in offenders(every_error, errors)
        if not line.startswith((*SCANNED, *CLI_ONLY, *DIAGNOSTICS))
    ]
    assert found == [], "Untranslated user-facing text:\n" + "\n".join(found)


def test_the_scan_finds_what_it_is_meant_to(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "embed = discord.Embed(title='Your images')\n"
        "embed.add_field(name=texts._('Cost'), value=f'{n} images')\n"
        "await interaction.followup.send('Deleted.', ephemeral=True)\n"
        "raise JobNotFoundError('That job is gone.')\n"
        "raise JobNotFoundError(N_('That job is gone.'))\n"
        "view.add_item(Button(label='Cancel' if a else texts._('Stop')))\n"
        "embed.add_field(name='—', value=f'<@{user}>')\n"
        "class E(SeedreamError):\n    user_message = 'Nope.'\n"
    )
    scanner = Scanner({"JobNotFoundError"})
    scanner.visit(ast.parse(source.read_text()))
    assert scanner.found == [
        (1, "Your images"),
        (2, " images"),
        (3, "Deleted."),
        (4, "That job is gone."),
        (6, "Cancel"),
        (9, "Nope."),
    ]
