"""BytePlus ModelArk adapter (skeleton: metadata only until the adapter lands)."""

from __future__ import annotations

from typing import ClassVar

from bot.models import GenerationRequest, TaskStatus
from bot.providers.base import Capabilities, Provider


class ArkProvider(Provider):
    """BytePlus ModelArk."""

    name: ClassVar[str] = "ark"
    display_name: ClassVar[str] = "BytePlus ModelArk"
    default_base_url: ClassVar[str] = "https://ark.ap-southeast.bytepluses.com"
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
