"""PoYo adapter: the unified task API (PROVIDERS.md §1)."""

from __future__ import annotations

from typing import ClassVar

from bot.providers.base import ModelSpec
from bot.providers.unified import SEEDREAM_4, SEEDREAM_45, UnifiedProvider


class PoyoProvider(UnifiedProvider):
    """PoYo."""

    name: ClassVar[str] = "poyo"
    display_name: ClassVar[str] = "PoYo"
    default_base_url: ClassVar[str] = "https://api.poyo.ai"
    default_model: ClassVar[str] = "seedream-4.5"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = (SEEDREAM_45, SEEDREAM_4)
