"""The shipped catalogs: complete, placeholders intact, command names Discord accepts, and
the template in step with the code (``scripts/i18n update`` brings new strings in)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.core.localizable import SHIPPED_LOCALES, SOURCE_LOCALE
from bot.i18n.catalogs import LOCALE_DIR, Catalogs, babel_name, po_path
from tests.i18n.catalog_checks import (
    all_problems,
    command_rule_breaks,
    key,
    missing,
    placeholder_mismatches,
    read,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LOCALE_DIR / "messages.pot"
TRANSLATED = [code for code in SHIPPED_LOCALES if code != SOURCE_LOCALE]


def shipped() -> list[tuple[str, Catalog]]:
    return [(code, read(po_path(code))) for code in TRANSLATED]


def extract(to: Path) -> Catalog:
    """What ``scripts/i18n extract`` would write now, read back."""
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", "--no-location",
         "--ignore-dirs=.* _* tests bench docs scripts", "-o", str(to), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return read(to)


def test_every_shipped_locale_has_a_catalog() -> None:
    assert SOURCE_LOCALE == "en-US"
    assert set(TRANSLATED) == {"de", "fr", "es-ES", "pt-BR", "ja", "zh-CN", "ru"}
    for code in TRANSLATED:
        assert po_path(code).is_file(), code


def test_the_template_holds_every_message_of_the_code(tmp_path: Path) -> None:
    now = {key(m) for m in extract(tmp_path / "now.pot") if m.id}
    committed = {key(m) for m in read(TEMPLATE) if m.id}
    assert now == committed, (
        "bot/locales/messages.pot is out of date; run scripts/i18n update and translate. "
        f"New: {sorted(map(str, now - committed))}; gone: {sorted(map(str, committed - now))}"
    )


def test_shipped_catalogs_are_complete_with_matching_placeholders_and_valid_names() -> None:
    assert all_problems(read(TEMPLATE), shipped()) == []


def test_a_broken_catalog_fails_every_check(tmp_path: Path) -> None:
    template = read(TEMPLATE)
    broken = read(po_path("de"))
    del broken["Deleted."]  # a missing translation
    broken["Job {job_id}"].string = "Auftrag {id}"  # a renamed placeholder
    broken.get("imagine", "command name").string = "Bild Erzeugen"  # a space, upper case
    broken.get("edit", "command name").string = "b" * 33  # too long
    long = "Sehr lange Beschreibung " * 5
    broken.get("What to draw", "option description").string = long  # over 100 characters
    plural = broken[("{count} image", "{count} images")]
    plural.string = ("{count} Bild", "")  # a plural form left empty
    assert missing(template, broken, "de") == [
        "de: no translation for (None, 'Deleted.')",
        f"de: no translation for {(None, '{count} image')!r}",
    ]
    assert placeholder_mismatches(broken, "de") == [
        "de: (None, 'Job {job_id}') has ['id'] instead of ['job_id']",
    ]
    assert set(command_rule_breaks(broken, "de")) == {
        f"de: command name {'b' * 33!r} breaks Discord's rules",
        "de: command name 'Bild Erzeugen' breaks Discord's rules",
        f"de: description {long!r} is over 100",
    }
    # and the process loading it keeps working: a broken entry falls back to English
    directory = tmp_path / "locales"
    shutil.copytree(LOCALE_DIR, directory)
    with po_path("de", directory).open("wb") as target:
        write_po(target, broken)
    texts = Catalogs(["de"], directory=directory).pick("de")
    assert texts._("Job {job_id}", job_id="abc") == "Job abc"
    assert texts._("Deleted.") == "Deleted."
    assert texts._("Cancelled") == "Abgebrochen"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalog_compiles_and_translates_with_its_plural_rules(code: str) -> None:
    texts = Catalogs([code]).pick(code)
    assert texts.code == code
    one, many = (texts.ngettext("{count} image", "{count} images", n) for n in (1, 5))
    assert "1" in one
    assert "5" in many
    assert texts._("Cancelled") != "Cancelled"
    assert babel_name(code) == po_path(code).parent.parent.name


def test_russian_uses_its_three_plural_forms() -> None:
    texts = Catalogs(["ru"]).pick("ru")
    shown = [texts.ngettext("{count} image", "{count} images", n) for n in (1, 3, 5, 21, 1234)]
    assert shown == [
        "1 изображение",
        "3 изображения",
        "5 изображений",
        "21 изображение",
        "1\xa0234 изображения",
    ]


def test_numbers_and_dates_follow_the_locale() -> None:
    catalogs = Catalogs()
    day = date(2025, 3, 14)
    assert catalogs.pick("de")._("{count}/day", count=1234) == "1.234/Tag"
    assert catalogs.pick("en-US").date(day) == "Mar 14, 2025"
    assert catalogs.pick("de").date(day) == "14.03.2025"
    assert catalogs.pick("ja").day(day) == "3月14日"


def test_locale_choice_falls_back_member_then_server_then_default() -> None:
    catalogs = Catalogs(["en-US", "de", "fr", "es-ES"], default="fr")
    assert catalogs.pick("de", "es-ES").code == "de"
    assert catalogs.pick("ko", "es-ES").code == "es-ES"
    assert catalogs.pick("ko", None).code == "fr"  # DEFAULT_LOCALE
    assert catalogs.pick("es-419").code == "es-ES"  # same language
    assert catalogs.pick("zh-TW").code == "fr"  # not Simplified Chinese
    assert catalogs.pick("ja").code == "fr"  # shipped, but not in LOCALES
