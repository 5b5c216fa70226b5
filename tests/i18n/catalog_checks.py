"""Checks of the translation catalogs, as functions returning problems (one line each).

The tests run them on the shipped catalogs (no problem allowed) and on a deliberately broken
catalog (each problem must be reported), so a check that could never fail is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import regex
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

#: Discord's rule for slash command and option names (its API docs), plus lower case
NAME_RULE = regex.compile(r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")
DESCRIPTION_LIMIT = 100
#: context menus may be named like sentences (1-32 characters, any case, spaces)
MENU_LIMIT = 32
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def key(message: Message) -> tuple[str | None, str]:
    return message.context, message.id if isinstance(message.id, str) else message.id[0]


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def missing(template: Catalog, catalog: Catalog, label: str) -> list[str]:
    """Every message of the template translated (no empty form, nothing fuzzy)."""
    found = {key(m): m for m in catalog if m.id}
    problems = []
    for message in template:
        if not message.id:
            continue
        translated = found.get(key(message))
        if translated is None or translated.fuzzy or not all(forms(translated)):
            problems.append(f"{label}: no translation for {key(message)!r}")
    return problems


def placeholder_mismatches(catalog: Catalog, label: str) -> list[str]:
    """Each translation uses exactly the placeholders of its source ({count} may be left out
    of a plural form, as "one" often says it in words)."""
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(placeholders(source) for source in sources))
        for text in forms(message):
            got = placeholders(text)
            if got != wanted and not (message.pluralizable and got == wanted - {"count"}):
                problems.append(
                    f"{label}: {key(message)!r} has {sorted(got)} instead of {sorted(wanted)}"
                )
    return problems


def command_rule_breaks(catalog: Catalog, label: str) -> list[str]:
    """Translated command and option names follow Discord's rules; descriptions fit."""
    problems = []
    for message in catalog:
        if not message.id or not isinstance(message.string, str) or not message.string:
            continue
        text = message.string
        if message.context in ("command name", "option name"):
            if not NAME_RULE.match(text) or text != text.lower():
                problems.append(f"{label}: {message.context} {text!r} breaks Discord's rules")
        elif message.context in ("command description", "option description"):
            if len(text) > DESCRIPTION_LIMIT:
                problems.append(f"{label}: description {text!r} is over {DESCRIPTION_LIMIT}")
        elif message.context == "menu name" and not 1 <= len(text) <= MENU_LIMIT:
            problems.append(f"{label}: menu name {text!r} is over {MENU_LIMIT} characters")
    return problems


def all_problems(template: Catalog, catalogs: Iterable[tuple[str, Catalog]]) -> list[str]:
    problems: list[str] = []
    for label, catalog in catalogs:
        problems += missing(template, catalog, label)
        problems += placeholder_mismatches(catalog, label)
        problems += command_rule_breaks(catalog, label)
    return problems
