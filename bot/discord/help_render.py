"""``/help``: what the member can do here, with what they have left today. Pure rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.discord.render import COLOUR_WORKING, timestamp
from bot.discord.translator import DESCRIPTION_CONTEXT, MENU_CONTEXT, NAME_CONTEXT
from bot.i18n.texts import Texts
from bot.quotas.rules import QuotaStatus

#: an embed field holds 1024 characters; longer lists are cut with an ellipsis
FIELD_LIMIT = 1024
#: the name of a field that goes on with the list above it (Discord needs a non-empty name)
CONTINUED = "\u200b"


@dataclass(frozen=True)
class CommandHelp:
    """One slash command or subcommand as the tree declares it (English, the catalog's ids)."""

    path: tuple[str, ...]
    description: str
    #: shown only to moderators (the command needs Manage Server)
    moderator: bool = False


def help_embed(
    commands: Sequence[CommandHelp],
    menus: Sequence[str],
    status: QuotaStatus,
    texts: Texts,
    *,
    moderator: bool,
) -> discord.Embed:
    """The member's commands (and the moderators', for a moderator) and their quota today."""
    embed = discord.Embed(
        title=texts._("What you can do here"),
        description=quota_line(status, texts),
        colour=COLOUR_WORKING,
    )
    mine = [command for command in commands if not command.moderator]
    _add_lines(embed, texts._("Commands"), _lines(mine, texts))
    ways = [texts._("Right-click a message › Apps › {menu}", menu=_menu(m, texts)) for m in menus]
    ways.append(texts._("Reply to an image and mention me with what to change."))
    ways.append(
        texts._(
            "Under a result: 🎲 re-roll, 🎛️ remix, 🗑️ delete; for one image 🌱 🌪️ vary it, "
            "🔍 re-render it larger, ✏️ edit it, 🖼️ use it as a reference; ✖️ cancels a "
            "waiting job."
        )
    )
    embed.add_field(name=texts._("Other ways"), value=_cut("\n".join(ways)), inline=False)
    if moderator:
        theirs = [command for command in commands if command.moderator]
        _add_lines(embed, texts._("For moderators"), _lines(theirs, texts))
    return embed


def quota_line(status: QuotaStatus, texts: Texts) -> str:
    """What the member has left today, and when it resets (in their own time zone)."""
    if status.blocked:
        return texts._("A moderator has blocked you from generating images here.")
    left = texts.ngettext(
        "You have {count} image left today (of {allowance}).",
        "You have {count} images left today (of {allowance}).",
        status.remaining_today,
        allowance=status.daily_allowance,
    )
    if status.bonus:
        left += " " + texts.ngettext(
            "Plus {count} bonus credit.", "Plus {count} bonus credits.", status.bonus
        )
    return left + " " + texts._("More {when}.", when=timestamp(status.reset_at))


def _lines(commands: Sequence[CommandHelp], texts: Texts) -> list[str]:
    lines = []
    for command in commands:
        name = " ".join(_translated(texts, NAME_CONTEXT, part) for part in command.path)
        description = _translated(texts, DESCRIPTION_CONTEXT, command.description)
        lines.append(_cut(f"`/{name}` · {description}"))
    return lines or ["—"]


def _add_lines(embed: discord.Embed, name: str, lines: Sequence[str]) -> None:
    """As many fields as the lines need (a field holds 1024 characters); the first is named."""
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > FIELD_LIMIT:
            embed.add_field(name=name, value="\n".join(chunk), inline=False)
            name, chunk = CONTINUED, []
        chunk.append(line)
    embed.add_field(name=name, value="\n".join(chunk), inline=False)


def _menu(name: str, texts: Texts) -> str:
    return _translated(texts, MENU_CONTEXT, name)


def _translated(texts: Texts, context: str, message: str) -> str:
    # the same translations Discord shows in the client (bot/discord/translator.py)
    return texts.pgettext(context, message) if texts.translates(message, context) else message


def _cut(text: str) -> str:
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"
