"""Command names, options, choices and descriptions in the client's language, from the catalog.

discord.py asks for every string of the tree in every Discord locale when it syncs; the
answer becomes the command's ``name_localizations`` and ``description_localizations``.
Each kind of string has its own gettext context, so "user" the option name and "user" in a
sentence are translated separately (an option name must stay a lower-case single word).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n.catalogs import Catalogs

NAME_CONTEXT, DESCRIPTION_CONTEXT = "command name", "command description"
#: msgctxt per kind of string (``bot/i18n/extract.py`` uses the same)
CONTEXTS = {
    Where.command_name: NAME_CONTEXT,
    Where.group_name: NAME_CONTEXT,
    Where.parameter_name: "option name",
    Where.command_description: DESCRIPTION_CONTEXT,
    Where.group_description: DESCRIPTION_CONTEXT,
    Where.parameter_description: "option description",
    Where.choice_name: "choice",
}
#: context menus are named like sentences ("Edit image"), not like slash commands
MENU_CONTEXT = "menu name"


class CatalogTranslator(app_commands.Translator):
    """Answers from the enabled catalogs; None (no localisation) for what they lack."""

    def __init__(self, catalogs: Catalogs) -> None:
        self._catalogs = catalogs

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The localisation of one tree string, or None to leave it to the default."""
        texts = self._catalogs.get(locale.value)
        where = CONTEXTS.get(context.location)
        if texts is None or where is None:
            return None
        if isinstance(context.data, app_commands.ContextMenu):
            where = MENU_CONTEXT
        if not texts.translates(string.message, where):
            return None
        return texts.pgettext(where, string.message)
