"""Where every door (slash command, reply, context menu, button) hands a job to the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.errors import PermissionDeniedError, RequestValidationError
from bot.jobs.models import Job, JobKind, JobOrigin, JobSpec
from bot.models import GenerationRequest
from bot.providers.base import ModelSpec, Provider
from bot.tree import permission_names
from bot.ui.attachments import check_references

if TYPE_CHECKING:
    from bot.jobs.engine import JobEngine
    from bot.ui.delivery import DiscordDelivery


@dataclass(frozen=True)
class DoorContext:
    """What the door knew that the ledger does not keep."""

    upload_limit: int | None = None
    reply_to: int | None = None
    #: sends the member a private note (an interaction followup while its token lives)
    notify: Callable[[str], Awaitable[object]] | None = None


#: Read by the delivery when the engine announces the job (inside ``create_job``), so the
#: very first card already replies to the right message.
current_door: ContextVar[DoorContext | None] = ContextVar("current_door", default=None)

REQUIRED = ("view_channel", "send_messages", "embed_links", "attach_files")


def missing_post_permissions(permissions: discord.Permissions, *, thread: bool) -> list[str]:
    """The permissions the bot lacks to post cards and results in a channel."""
    needed = [*REQUIRED, "send_messages_in_threads"] if thread else list(REQUIRED)
    if thread:
        needed.remove("send_messages")
    return [name for name in needed if not getattr(permissions, name)]


class JobDesk:
    """Checks what only Discord knows, then asks the engine for the job."""

    def __init__(
        self,
        engine: JobEngine,
        delivery: DiscordDelivery,
        providers: Sequence[Provider],
        *,
        max_count: int,
    ) -> None:
        self.engine = engine
        self.delivery = delivery
        self.providers = list(providers)
        self.max_count = max_count

    def model_spec(self, model_id: str | None) -> ModelSpec:
        """The serving provider's spec for ``model_id``, or its default model's."""
        capabilities = self.providers[0].capabilities
        try:
            return capabilities.model(model_id)
        except RequestValidationError:
            return capabilities.model(None)

    def provider_label(self, name: str | None) -> str | None:
        """A provider's display name (``PoYo`` for ``poyo``)."""
        for provider in self.providers:
            if provider.name == name:
                return provider.display_name
        return name

    def max_count_offered(self) -> int:
        """The largest ``count`` to offer: the setting, capped by the most any model makes."""
        most = max(spec.max_count for spec in self.providers[0].capabilities.models)
        return max(1, min(self.max_count, most))

    def model_ids(self) -> tuple[str, ...]:
        """The models the serving provider offers."""
        return self.providers[0].capabilities.model_ids

    async def start(
        self,
        *,
        member: discord.Member,
        channel_id: int,
        bot_permissions: discord.Permissions,
        in_thread: bool,
        kind: JobKind,
        origin: JobOrigin,
        request: GenerationRequest,
        parent_job_id: str | None = None,
        door: DoorContext | None = None,
    ) -> Job:
        """Validate, reserve quota and queue the job; raise a user-safe error otherwise."""
        missing = missing_post_permissions(bot_permissions, thread=in_thread)
        if missing:
            names = permission_names(missing)
            raise PermissionDeniedError(
                f"I can't post results in this channel: I need {names}. Nothing was charged."
            )
        if kind is not JobKind.REROLL and request.count > self.max_count:
            raise RequestValidationError("count", f"must be between 1 and {self.max_count}.")
        spec = JobSpec(
            guild_id=member.guild.id,
            channel_id=channel_id,
            user_id=member.id,
            role_ids=tuple(role.id for role in member.roles),
            kind=kind,
            origin=origin,
            request=request,
            parent_job_id=parent_job_id,
        )
        token = current_door.set(door)
        try:
            job = await self.engine.create_job(spec)
        finally:
            current_door.reset(token)
        if door is not None:
            self.delivery.remember(job.id, door)
        return job

    async def references(
        self, attachments: Sequence[discord.Attachment], model: str | None = None
    ) -> tuple[str, ...]:
        """Check reference images against the serving model's limit; their URLs."""
        return await check_references(attachments, max_refs=self.model_spec(model).max_refs)
