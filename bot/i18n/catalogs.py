"""The gettext catalogs: ``bot/locales/<locale>/LC_MESSAGES/messages.po``, compiled at load.

The ``.po`` sources are compiled to ``.mo`` in memory with Babel when the process starts
(a few milliseconds per locale), so ``pip install .`` or a fresh clone needs no build step
and a ``.mo`` can never be stale. Fuzzy entries are left out, as ``msgfmt`` does.
"""

from __future__ import annotations

import gettext
import hashlib
import io
import logging
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.core.localizable import SHIPPED_LOCALES, SOURCE_LOCALE
from bot.i18n.texts import Key, Texts

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def babel_name(code: str) -> str:
    """A Discord locale code (``pt-BR``) as Babel and gettext name it (``pt_BR``)."""
    return code.replace("-", "_")


def po_path(code: str, directory: Path = LOCALE_DIR) -> Path:
    """Where the ``.po`` source of a locale lives."""
    return directory / babel_name(code) / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(path: Path) -> tuple[gettext.GNUTranslations, frozenset[Key]]:
    """Compile one ``.po`` file into a gettext catalog, in memory, with the keys it
    translates (a translation may rightly equal its English source, so keep the set)."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=babel_name(path.parent.parent.name))
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    keys = frozenset(
        (message.context, message.id if isinstance(message.id, str) else message.id[0])
        for message in catalog
        if message.id
        and message.string
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    )
    return gettext.GNUTranslations(buffer), keys


@cache
def _compiled(path: Path) -> tuple[gettext.GNUTranslations, frozenset[Key]]:
    return compile_po(path)


class Catalogs:
    """The enabled locales' texts, and how to pick one for a reader.

    ``locales`` limits the set (``LOCALES``); ``default`` is the fallback (``DEFAULT_LOCALE``).
    English is the source language and needs no catalog.
    """

    def __init__(
        self,
        locales: Iterable[str] = SHIPPED_LOCALES,
        default: str = SOURCE_LOCALE,
        *,
        directory: Path = LOCALE_DIR,
    ) -> None:
        enabled = list(dict.fromkeys([*locales, default]))
        self._texts: dict[str, Texts] = {}
        self._sources = {
            code: po_path(code, directory) for code in enabled if code != SOURCE_LOCALE
        }
        for code in enabled:
            locale = Locale.parse(babel_name(code))
            if code == SOURCE_LOCALE:
                self._texts[code] = Texts(code, locale, gettext.NullTranslations(), None)
            else:
                translations, keys = _compiled(self._sources[code])
                self._texts[code] = Texts(code, locale, translations, keys)
        self.default = self._texts[default]

    @property
    def locales(self) -> tuple[str, ...]:
        """The enabled Discord locale codes."""
        return tuple(self._texts)

    def fingerprint(self) -> str:
        """A digest of the enabled locales and their ``.po`` sources."""
        digest = hashlib.sha256(",".join(self._texts).encode())
        for path in self._sources.values():
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def get(self, code: str | None) -> Texts | None:
        """The texts for a Discord locale, or for its language (``es-419`` → ``es-ES``)."""
        if not code:
            return None
        if code in self._texts:
            return self._texts[code]
        language = code.split("-")[0]
        if language == "zh":  # zh-TW reads Traditional characters: not zh-CN's
            return None
        same = [texts for known, texts in self._texts.items() if known.split("-")[0] == language]
        return same[0] if len(same) == 1 else None

    def pick(self, *codes: str | None) -> Texts:
        """The first of ``codes`` that is enabled, else the default."""
        for code in codes:
            found = self.get(code)
            if found is not None:
                return found
        return self.default


#: English only: what renders before a composition root hands out the real catalogs
ENGLISH = Catalogs([SOURCE_LOCALE])
