"""The Discord side of a job: its events onto its card, and its results posted under the limit.

Implements the engine's ``EventSink`` and ``Deliverer``; the card itself (posting and the
throttled edits) is ``bot.discord.cards``. Results go out as regular channel messages
addressed by id, so a job that outlives the 15-minute interaction token still delivers.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Sequence

import discord

from bot.core.errors import ImageError, SeedreamError
from bot.core.job import Job, StoredImage
from bot.core.localizable import N_
from bot.discord import render
from bot.discord.cards import (
    CARD_EDIT_INTERVAL,
    NETWORK_ERRORS,
    Card,
    CardBoard,
    Notify,
    RecordCard,
    carries_images,
)
from bot.discord.languages import server_texts
from bot.discord.views import result_view
from bot.images.fit import FittedImage, batch_for_messages, fit_images_async, refit_smaller_async
from bot.jobs.delivery import DeliveryError, PostedCallback
from bot.jobs.events import (
    JobCancelled,
    JobDelivered,
    JobDeliveryDelayed,
    JobEvent,
    JobFailed,
    JobPositionChanged,
    JobQueued,
    JobRunning,
)
from bot.providers.base import Provider
from bot.providers.sizes import higher_tier

log = logging.getLogger(__name__)

#: Discord's default upload limit, used when neither interaction nor guild says better
DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
#: how many times a 413 from Discord leads to a smaller encoding before giving up
MAX_REFITS = 4


class DiscordPosting:
    """Posts and edits job cards and results through the bot's REST client."""

    def __init__(
        self,
        client: discord.Client,
        record_card: RecordCard,
        providers: Sequence[Provider] = (),
        *,
        edit_interval: float = CARD_EDIT_INTERVAL,
    ) -> None:
        self._client = client
        self._providers = {provider.name: provider for provider in providers}
        self._cards = CardBoard(client, record_card, edit_interval=edit_interval)

    # ------------------------------------------------------------------ context from doors

    def remember(self, job_id: str, notify: Notify) -> None:
        """How to reach the member who asked for the job, while this process lives."""
        self._cards.card(job_id).notify = notify

    # ------------------------------------------------------------------------- EventSink

    async def on_event(self, event: JobEvent) -> None:
        """Keep the card in step with the job (in the server's language: it is public)."""
        job, cards = event.job, self._cards
        texts = server_texts(self._client, job.guild_id)
        if isinstance(event, JobQueued):
            await cards.ensure(job, render.card_embed(job, texts, position=event.position))
        elif isinstance(event, JobPositionChanged):
            cards.throttled(job, render.card_embed(job, texts, position=event.position))
        elif isinstance(event, JobRunning):
            embed = render.card_embed(job, texts, progress=event.progress, expected=event.expected)
            cards.throttled(job, embed)
        elif isinstance(event, JobFailed):
            failed = render.failure_embed(job, texts, refunded=event.refunded)
            if not await cards.final(job, failed):
                note = render.failure_text(job, event.reason, event.refunded, texts)
                await cards.tell_member(job, note)
            cards.forget(job.id)
        elif isinstance(event, JobCancelled):
            await cards.final(job, render.cancelled_embed(job, texts))
            cards.forget(job.id)
        elif isinstance(event, JobDeliveryDelayed):
            await cards.delayed(job, render.delayed_embed(job, event.retry_until, texts))
        elif isinstance(event, JobDelivered):
            cards.forget(job.id)

    # ------------------------------------------------------------------------- Deliverer

    async def deliver(
        self, job: Job, images: Sequence[StoredImage], posted: PostedCallback
    ) -> list[int]:
        """Fit the images under the upload limit and post them, the first batch in the card.

        The card is edited last: it announces the result, and the record of its batch is
        the one that settles the job, so by the time the card says "delivered" every other
        message is out and recorded.
        """
        card = self._cards.card_of(job)
        limit = job.door.upload_limit or self._guild_limit(job.guild_id)
        fitted = await fit_images_async(
            [image.data for image in images], limit, stem=f"seedream-{job.id.lower()}"
        )
        batches: list[tuple[list[FittedImage], Sequence[StoredImage]]] = []
        start = 0
        for group in batch_for_messages(fitted):
            batches.append((group, images[start : start + len(group)]))
            start += len(group)
        # The card carries the first batch unless an earlier run already put images in it.
        card_free = not carries_images(job, card.message_id)
        if card_free:
            batches = batches[1:] + batches[:1]  # the announcement goes out last
        message_ids: list[int] = []
        async with card.lock:
            self._cards.cancel_timer(card)
            for number, (group, sources) in enumerate(batches):
                announces = card_free and number == len(batches) - 1
                message_id = await self._post_batch(job, card, group, sources, in_card=announces)
                message_ids.append(message_id)
                await posted(message_id, [image.index for image in sources])
        return message_ids

    # ---------------------------------------------------------------------------- internals

    def _model_used(self, job: Job) -> str | None:
        """The serving provider's id of the model (a request may leave it to the default)."""
        provider = self._providers.get(job.provider or "")
        if provider is None:
            return job.request.model
        try:
            return provider.capabilities.model(job.request.model).id
        except SeedreamError:
            return job.request.model

    def upscale_tier(self, job: Job) -> str | None:
        """The tier the 4K button offers for ``job``'s images: the serving model's highest,
        when above the one used; None hides the button."""
        provider = self._providers.get(job.provider or "")
        if provider is None:
            return None
        try:
            spec = provider.capabilities.model(job.request.model)
        except SeedreamError:
            return None
        return higher_tier(job.request, spec)

    def _provider_label(self, job: Job) -> str | None:
        provider = self._providers.get(job.provider or "")
        return provider.display_name if provider is not None else job.provider

    def _guild_limit(self, guild_id: int) -> int:
        guild = self._client.get_guild(guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    async def _post_batch(
        self,
        job: Job,
        card: Card,
        group: list[FittedImage],
        sources: Sequence[StoredImage],
        *,
        in_card: bool,
    ) -> int:
        embed = None
        if in_card or card.message_id is None:
            embed = render.result_embed(
                job,
                group,
                server_texts(self._client, job.guild_id),
                model=self._model_used(job),
                provider=self._provider_label(job),
                # a storyboard's frames span messages: the card counts them all
                delivered=max(len(job.images), len(sources)),
            )
        view = result_view(
            job.id,
            server_texts(self._client, job.guild_id),
            indexes=[image.index for image in sources],
            total=max(len(job.images), len(sources)),
            upscale_tier=self.upscale_tier(job),
        )
        for _ in range(MAX_REFITS + 1):
            spoiler = job.request.spoiler
            files = [
                discord.File(io.BytesIO(f.data), filename=f.filename, spoiler=spoiler)
                for f in group
            ]
            try:
                return await self._send_files(
                    job,
                    card,
                    embed,
                    files,
                    view,
                    in_card=in_card,
                    nonce=f"{job.id}-{sources[0].index}",
                )
            except discord.RateLimited as exc:  # a 429 longer than discord.py will sleep
                raise DeliveryError(
                    N_("Discord is rate limiting the bot; retrying."), retryable=True
                ) from exc
            except NETWORK_ERRORS as exc:
                log.info("Job %s: posting failed: %s", job.id, type(exc).__name__)
                raise DeliveryError(
                    N_("Discord could not be reached; retrying."), retryable=True
                ) from exc
            except discord.HTTPException as exc:
                if not _too_large(exc):
                    raise _delivery_error(exc) from exc
                try:
                    group = await _shrink(group, sources)
                except ImageError as too_small:
                    raise DeliveryError(
                        N_("The images stayed too large for Discord."), retryable=False
                    ) from too_small
        raise DeliveryError(N_("The images stayed too large for Discord."), retryable=False)

    async def _send_files(
        self,
        job: Job,
        card: Card,
        embed: discord.Embed | None,
        files: list[discord.File],
        view: discord.ui.View,
        *,
        in_card: bool,
        nonce: str,
    ) -> int:
        channel = self._cards.channel(job)
        if in_card and card.message_id is not None:
            try:
                message = channel.get_partial_message(card.message_id)
                await message.edit(embed=embed, attachments=files, view=view)
                card.last_edit = time.monotonic()
                return card.message_id
            except discord.NotFound:
                log.info("Job %s: card is gone; posting the result as a new message", job.id)
                for file in files:
                    file.reset()
        # A stable nonce per batch: a restart that re-posts it gets the first message back.
        kwargs: dict[str, object] = {"files": files, "view": view, "nonce": nonce}
        if embed is not None:
            kwargs["embed"] = embed
        sent = await channel.send(**kwargs)  # type: ignore[call-overload]
        return int(sent.id)


def _too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == 40005


async def _shrink(
    group: Sequence[FittedImage], sources: Sequence[StoredImage]
) -> list[FittedImage]:
    """The next rung down for every file of a batch Discord refused as too large."""
    return list(
        await asyncio.gather(
            *(
                refit_smaller_async(
                    source.data, fitted, filename_stem=fitted.filename.rsplit(".", 1)[0]
                )
                for fitted, source in zip(group, sources, strict=True)
            )
        )
    )


def _delivery_error(exc: discord.HTTPException) -> DeliveryError:
    if isinstance(exc, discord.Forbidden | discord.NotFound):
        return DeliveryError(
            N_("I can no longer post in that channel (missing permission or deleted)."),
            retryable=False,
        )
    return DeliveryError(N_("Discord did not accept the images; retrying."), retryable=True)
