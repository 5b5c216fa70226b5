"""One locale's texts: translated messages with their placeholders, numbers and dates.

Messages use ``str.format`` placeholders with names (``{count}``); integers passed as
parameters are written the locale's way (``1,234`` / ``1.234`` / ``1 234``), floats with one
decimal (``11.0`` / ``11,0``), tuples as a list (``JPEG and PNG``). Pass ids and mentions as
strings. A translation whose placeholders don't fit (a broken catalog) falls back to the
English source rather than failing the reply.
"""

from __future__ import annotations

import datetime as dt
import gettext
import logging
from collections.abc import Mapping

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.lists import format_list
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

#: (msgctxt, msgid) of a catalog entry
Key = tuple[str | None, str]


class Texts:
    """Translations for one Discord locale. ``_``, ``ngettext`` and ``pgettext`` keep the
    gettext names so that Babel's extractor finds the calls without extra keywords."""

    def __init__(
        self,
        code: str,
        locale: Locale,
        translations: gettext.NullTranslations,
        keys: frozenset[Key] | None,
    ) -> None:
        self.code = code
        self.locale = locale
        self._translations = translations
        #: what the catalog translates; None for English, the source language
        self._keys = keys

    def _(self, message: str, /, **params: object) -> str:
        """``message`` in this locale, its placeholders filled."""
        return self._fill(self._translations.gettext(message), message, params)

    def ngettext(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The plural form for ``count`` (also available as ``{count}``)."""
        source = singular if count == 1 else plural
        text = self._translations.ngettext(singular, plural, count)
        return self._fill(text, source, {"count": count, **params})

    def pgettext(self, context: str, message: str, /) -> str:
        """``message`` in ``context`` (command names, option names, …), no placeholders."""
        return self._translations.pgettext(context, message)

    def translates(self, message: str, context: str | None = None) -> bool:
        """Whether the catalog has ``message`` (English, the source, has every message)."""
        return self._keys is None or (context, message) in self._keys

    @property
    def is_source(self) -> bool:
        """English, the language the messages are written in."""
        return self._keys is None

    def number(self, value: float) -> str:
        """A number with the locale's grouping and decimal signs."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: dt.date, style: str = "medium") -> str:
        """A calendar date the locale's way (``14 Mar 2025``, ``14.03.2025``, ``2025/03/14``)."""
        return format_date(value, format=style, locale=self.locale)

    def day(self, value: dt.date) -> str:
        """A day of the month without the year, for chart axes (``Mar 14``, ``14. März``)."""
        return format_skeleton("MMMd", value, locale=self.locale)

    def _fill(self, text: str, source: str, params: Mapping[str, object]) -> str:
        shown = {key: self._param(value) for key, value in params.items()}
        try:
            return text.format_map(shown)
        except (KeyError, IndexError, ValueError):
            log.warning("Broken %s translation of %r; using English", self.code, source)
            return source.format_map(shown)

    def _param(self, value: object) -> object:
        if isinstance(value, bool):
            return value
        if isinstance(value, float):  # sizes and megapixels: one decimal, the local way
            return format_decimal(value, format="#,##0.0", locale=self.locale)
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, tuple):  # a list of names: "JPEG and PNG", "JPEG und PNG"
            return format_list([str(item) for item in value], locale=self.locale)
        return value
