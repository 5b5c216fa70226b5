"""Languages end to end: a German client gets German answers, a German server German cards,
and the command payload carries every shipped locale's names and descriptions."""

from __future__ import annotations

from typing import Any

from bot.core.localizable import SHIPPED_LOCALES
from tests.e2e.harness import World, job_id_in
from tests.i18n.catalog_checks import DESCRIPTION_LIMIT, NAME_RULE

EMBED_FIELDS = "fields"


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get(EMBED_FIELDS, [])}


async def test_a_german_member_in_a_german_server_gets_german_replies_and_card(
    world: World,
) -> None:
    world.discord.guild.preferred_locale = "de"
    async with world.running():
        handle = await world.discord.slash(
            "imagine", options={"prompt": "ein roter Fuchs", "count": 2}, locale="de"
        )
        answer = await handle.followup(0)
        assert answer.content.startswith("Als Auftrag `")
        assert "(2 Bilder reserviert)" in answer.content
        job_id = job_id_in(answer.content)

        result = await world.result(job_id)
        embed = result.embeds[0]
        shown = fields(embed)
        assert embed["title"] == "Bild erzeugen"
        assert embed["footer"]["text"] == f"Auftrag {job_id}"
        assert shown["Kosten"] == "2 Bilder"
        assert shown["Anbieter"] == "PoYo"
        assert "Angefordert von" in shown
        labels = {c.get("label") for c in result.walk_components()}
        assert {"Neu würfeln", "Remix", "Alle bearbeiten", "Löschen"} <= labels
        # the image picker under a two-image result: numbered buttons
        assert {"1", "2"} <= labels

        status = await world.discord.slash("status", locale="de")
        overview = (await status.response()).embeds[0]
        assert overview["title"] == "Deine Bilder"
        assert fields(overview)["Heute übrig"] == "8 von 10"

        missing = await world.discord.slash("status", options={"job": "zzzzzzzz"}, locale="de")
        refusal = await missing.response()
        assert refusal.ephemeral
        assert refusal.content == "Diesen Auftrag gibt es nicht (oder er gehört dir nicht)."


async def test_public_cards_follow_the_server_and_private_answers_the_member(
    world: World,
) -> None:
    """A Japanese member in an English server: the answer only they see is in Japanese,
    the card everyone sees stays English."""
    async with world.running():
        handle = await world.discord.slash("imagine", options={"prompt": "a fox"}, locale="ja")
        answer = await handle.followup(0)
        assert "ジョブ `" in answer.content
        result = await world.result(job_id_in(answer.content))
        assert result.embeds[0]["title"] == "Imagine"
        assert "Cost" in fields(result.embeds[0])

        # a language the bot does not ship falls back to the server's
        korean = await world.discord.slash("status", locale="ko")
        assert (await korean.response()).embeds[0]["title"] == "Your images"


async def test_locales_setting_limits_the_languages(world: World) -> None:
    async with world.running(locales=("en-US", "fr"), default_locale="fr"):
        german = await world.discord.slash("status", locale="de")
        # German is not offered: the server's (en-US) language, which is offered
        assert (await german.response()).embeds[0]["title"] == "Your images"
        french = await world.discord.slash("status", locale="fr")
        assert (await french.response()).embeds[0]["title"] == "Vos images"
        commands = {command["name"]: command for command in world.discord.commands()}
    assert set(commands["imagine"]["description_localizations"]) == {"en-US", "en-GB", "fr"}


async def test_the_synced_commands_carry_every_shipped_locale(world: World) -> None:
    async with world.running():
        commands = world.discord.commands()
    shipped = set(SHIPPED_LOCALES)
    checked = 0
    for command in commands:
        if command.get("type", 1) != 1:  # the "Edit image" message menu: a name only
            assert shipped <= set(command["name_localizations"]), command["name"]
            assert command["name_localizations"]["de"] == "Bild bearbeiten"
            continue
        for item in [command, *_nested(command.get("options", []))]:
            names = item["name_localizations"]
            descriptions = item["description_localizations"]
            assert shipped <= set(names), item["name"]
            assert shipped <= set(descriptions), item["name"]
            for code in shipped:
                assert NAME_RULE.match(names[code]), (code, names[code])
                assert names[code] == names[code].lower(), (code, names[code])
                assert len(descriptions[code]) <= DESCRIPTION_LIMIT
            checked += 1
        for code in shipped:  # Discord refuses two options or subcommands of one name
            siblings = [o["name_localizations"][code] for o in command.get("options", [])]
            assert len(siblings) == len(set(siblings)), (command["name"], code)
    assert checked > 30
    imagine = next(c for c in commands if c["name"] == "imagine")
    assert imagine["name_localizations"]["ja"] == "画像生成"
    assert (
        imagine["description_localizations"]["de"] == "Bilder aus einer Textbeschreibung erzeugen"
    )
    prompt = next(o for o in imagine["options"] if o["name"] == "prompt")
    assert prompt["description_localizations"]["ru"] == "Что нарисовать"


def _nested(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for option in options:
        found.append(option)
        found += _nested(option.get("options", []))
    return found


async def test_image_actions_settings_styles_and_new_refusals_speak_german(world: World) -> None:
    """What issues 14 and 15 added, for a German member in a German server: the picked
    image's panel and its buttons, the Remix form, /settings, /style list, a private job's
    DM note, a ratio refusal and a refused default."""
    world.discord.guild.preferred_locale = "de"
    user = world.discord.user
    async with world.running():
        handle = await world.discord.slash(
            "imagine", options={"prompt": "ein Fuchs", "count": 2}, locale="de"
        )
        job_id = job_id_in((await handle.followup(0)).content)
        result = await world.result(job_id)
        await world.settled(job_id)

        click = await world.discord.click(result, f"sd:pick:{job_id}:1", locale="de")
        await click.response()
        panel = click.original
        assert panel is not None
        assert panel.content == f"Bild 2 aus Auftrag `{job_id}`: Was soll ich damit machen?"
        labels = [c["label"] for c in panel.walk_components() if c.get("label")]
        assert labels[:2] == ["Variieren (leicht)", "Variieren (stark)"]
        assert "Als Referenz nutzen" in labels

        remix = await world.discord.click(result, f"sd:remix:{job_id}", locale="de")
        form = (await remix.response()).data
        assert form["title"] == "Remix"
        assert "Seitenverhältnis (leer: Standard des Modells)" in str(form["components"])

        shown = await world.discord.slash("settings", options={"count": 3}, locale="de")
        saved = (await shown.response()).embeds[0]
        assert saved["title"] == "Deine Standardwerte hier"
        assert saved["description"].startswith("Gespeichert.")
        assert fields(saved) == {"anzahl": "`3`"}

        listing = await world.discord.slash("style list", locale="de")
        styles = (await listing.response()).embeds[0]
        assert styles["title"] == "Stile"
        assert "Stile des Bots" in fields(styles)
        assert styles["footer"]["text"].startswith("Nutze einen mit /imagine stil: — {prompt}")

        bad = await world.discord.slash(
            "imagine", options={"prompt": "x", "ratio": "breit"}, locale="de"
        )
        refusal = (await bad.followup(0)).content
        assert refusal.startswith("`ratio`: `breit` ist kein Seitenverhältnis")

        private = await world.discord.slash(
            "imagine", options={"prompt": "ein Garten", "private": True}, locale="de"
        )
        answer = (await private.followup(0)).content
        assert answer.endswith("Das Ergebnis kommt per Direktnachricht.")
        notes = [m.content for m in world.discord.messages(world.discord.dm_channel(user))]
        assert "🔒 Dein privater Auftrag von **Fake Guild**: Karte und Bilder erscheinen hier." in (
            notes
        )

        mod = world.discord.add_member(name="mod", roles=[world.discord.moderator_role])
        added = await world.discord.slash(
            "style add",
            user=mod,
            options={"name": "noir", "template": "{prompt}, noir"},
            locale="de",
        )
        assert (await added.response()).content == (
            "Stil **noir** hinzugefügt. Mitglieder können ihn mit `/imagine stil:noir` nutzen."
        )
        await world.discord.slash("settings", options={"style": "noir"}, locale="de")
        await world.discord.slash("style remove", user=mod, options={"name": "noir"}, locale="de")
        gone = await world.discord.slash("imagine", options={"prompt": "x"}, locale="de")
        refused = (await gone.followup(0)).content
        assert refused.startswith(
            "`style`: hier gibt es keinen Stil `noir`. (Das ist dein Standardwert: ändere ihn mit "
            "/settings oder gib die Option ausdrücklich an.)"
        )
