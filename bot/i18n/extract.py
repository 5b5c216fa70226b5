"""A Babel extraction method for the cogs: gettext calls, plus the command tree's strings.

Slash command names, descriptions, option names and option descriptions are plain literals in
``app_commands`` decorators; discord.py hands them to the translator at sync time
(``bot/discord/translator.py``). This finds them in the source, each under the gettext
context the translator asks with, so ``scripts/i18n extract`` puts them in the template.
Configured in ``babel.cfg``; reads source only (never imports the cogs).
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from babel.messages.extract import extract_python

#: (line, function name, message or messages, comments) as Babel expects them
Found = tuple[Any, ...]

NAME, DESCRIPTION = "command name", "command description"
OPTION, OPTION_DESCRIPTION, MENU = "option name", "option description", "menu name"
#: the callback's first parameters, which are not options
NOT_OPTIONS = frozenset({"self", "interaction"})


def extract_commands(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Any,
) -> Iterator[Found]:
    """Babel's Python extraction, then the app-command strings with their contexts."""
    yield from extract_python(fileobj, keywords, comment_tags, options)
    fileobj.seek(0)
    tree = ast.parse(fileobj.read())
    for node, context, text in command_strings(tree):
        # as if written pgettext(context, text): Babel's spec for it makes the first the context
        yield (getattr(node, "lineno", 0), "pgettext", (context, text), [])


def command_strings(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, context, string) for every command, group, option and context-menu string."""
    yield from _shared_descriptions(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for keyword in node.keywords:
                if keyword.arg in ("group_name", "group_description"):
                    context = NAME if keyword.arg == "group_name" else DESCRIPTION
                    yield from _literal(keyword.value, context)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _command(node)
        elif isinstance(node, ast.Call) and _called(node) == "ContextMenu":
            for keyword in node.keywords:
                if keyword.arg == "name":
                    yield from _literal(keyword.value, MENU)


def _command(
    function: ast.FunctionDef | ast.AsyncFunctionDef,
) -> Iterator[tuple[ast.AST, str, str]]:
    calls = [d for d in function.decorator_list if isinstance(d, ast.Call)]
    if not any(_called(call) == "command" for call in calls):
        return
    for call in calls:
        if _called(call) == "command":
            for keyword in call.keywords:
                if keyword.arg in ("name", "description"):
                    context = NAME if keyword.arg == "name" else DESCRIPTION
                    yield from _literal(keyword.value, context)
        elif _called(call) == "describe":
            for keyword in call.keywords:
                if keyword.arg is not None:  # ``**SHARED_OPTIONS``: found where defined
                    yield from _literal(keyword.value, OPTION_DESCRIPTION)
    for argument in (*function.args.args, *function.args.kwonlyargs):
        if argument.arg not in NOT_OPTIONS:
            yield argument, OPTION, argument.arg


def _shared_descriptions(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str]]:
    """Option descriptions several commands share: a module-level ``NAME_OPTIONS = {option:
    description}`` dict, passed as ``@app_commands.describe(**NAME_OPTIONS)``."""
    for node in getattr(tree, "body", []):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
            continue
        names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        if any(name.endswith("_OPTIONS") for name in names):
            for value in node.value.values:
                yield from _literal(value, OPTION_DESCRIPTION)


def _literal(value: ast.expr, context: str) -> Iterator[tuple[ast.AST, str, str]]:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        yield value, context, value.value
    else:  # an f-string or a name can't be looked up in the catalog
        raise ValueError(
            f"line {value.lineno}: a command's {context} must be a string literal to be translated"
        )


def _called(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None
