"""Vidgo adapter: the same unified task API as PoYo, plus Seedream 5.0 lite (PROVIDERS.md §2)."""

from __future__ import annotations

from typing import ClassVar

from bot.providers.base import ModelSpec
from bot.providers.unified import SEEDREAM_4, SEEDREAM_5_LITE, SEEDREAM_45, UnifiedProvider


class VidgoProvider(UnifiedProvider):
    """Vidgo."""

    name: ClassVar[str] = "vidgo"
    display_name: ClassVar[str] = "Vidgo"
    default_base_url: ClassVar[str] = "https://api.vidgo.ai"
    default_model: ClassVar[str] = "seedream-4.5"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = (SEEDREAM_45, SEEDREAM_4, SEEDREAM_5_LITE)
    #: "Receiver rules: HTTPS only" (PROVIDERS.md §2, V4): with an http:// PUBLIC_URL it polls
    https_callbacks_only: ClassVar[bool] = True
