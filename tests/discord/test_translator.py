"""The command translator: the catalog's names per Discord locale, None where it has none."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContext
from discord.app_commands import TranslationContextLocation as Where

from bot.discord.translator import CatalogTranslator
from bot.i18n.catalogs import Catalogs


async def _noop(interaction: discord.Interaction[Any]) -> None:
    """A command body."""


async def _menu(interaction: discord.Interaction[Any], message: discord.Message) -> None:
    """A menu body."""


COMMAND = app_commands.Command(name="edit", description="x", callback=_noop)
MENU = app_commands.ContextMenu(name="Edit image", callback=_menu)


async def say(translator: CatalogTranslator, text: str, locale: discord.Locale, where: Where,
              data: Any = COMMAND) -> str | None:  # fmt: skip
    context = TranslationContext(location=where, data=data)  # type: ignore[call-overload]
    return await translator.translate(app_commands.locale_str(text), locale, context)


async def test_names_descriptions_and_menus_come_from_their_own_contexts() -> None:
    translator = CatalogTranslator(Catalogs())
    assert await say(translator, "edit", discord.Locale.german, Where.command_name) == "bearbeiten"
    described = await say(
        translator, "Generate images from a text prompt", discord.Locale.japanese,
        Where.command_description,
    )  # fmt: skip
    assert described == "テキストから画像を生成"
    assert await say(translator, "user", discord.Locale.russian, Where.parameter_name) == "участник"
    menu = await say(translator, "Edit image", discord.Locale.french, Where.command_name, MENU)
    assert menu == "Modifier l’image"


async def test_what_the_catalogs_lack_is_left_to_discord() -> None:
    translator = CatalogTranslator(Catalogs(["en-US", "de", "es-ES"]))
    german = discord.Locale.german
    assert await say(translator, "not a command", german, Where.command_name) is None
    assert await say(translator, "edit", discord.Locale.korean, Where.command_name) is None
    assert await say(translator, "edit", discord.Locale.japanese, Where.command_name) is None
    assert await say(translator, "edit", discord.Locale.taiwan_chinese, Where.command_name) is None
    assert (
        await say(translator, "edit", discord.Locale.british_english, Where.command_name) == "edit"
    )
    latin = await say(translator, "edit", discord.Locale.latin_american_spanish, Where.command_name)
    assert latin == "editar"
