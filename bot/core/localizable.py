"""Message ids for the catalog: the locales the bot ships and the ``N_`` marker.

The domain writes its user-facing sentences in English, marked with ``N_`` so that
``scripts/i18n extract`` finds them; the Discord layer translates them (``bot.i18n``).
"""

from __future__ import annotations

#: Discord's codes for the locales with a catalog in ``bot/locales`` (English is the source)
SHIPPED_LOCALES: tuple[str, ...] = ("en-US", "de", "fr", "es-ES", "pt-BR", "ja", "zh-CN", "ru")
SOURCE_LOCALE = "en-US"


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message
