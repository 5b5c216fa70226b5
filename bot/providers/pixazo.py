"""Pixazo adapter (skeleton: metadata only until the adapter lands)."""

from __future__ import annotations

from typing import ClassVar

from bot.models import GenerationRequest, TaskStatus
from bot.providers.base import Capabilities, Provider


class PixazoProvider(Provider):
    """Pixazo."""

    name: ClassVar[str] = "pixazo"
    display_name: ClassVar[str] = "Pixazo"
    default_base_url: ClassVar[str] = "https://gateway.pixazo.ai"
    default_model: ClassVar[str] = "seedream-4-5-251128"

    @property
    def capabilities(self) -> Capabilities:
        """Not implemented yet."""
        raise NotImplementedError

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Not implemented yet."""
        raise NotImplementedError

    async def status(self, task_id: str) -> TaskStatus:
        """Not implemented yet."""
        raise NotImplementedError
