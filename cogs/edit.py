"""Editing images: ``/edit``, the "Edit image" message menu, and a reply that mentions the bot."""

from __future__ import annotations

import logging
import re
from functools import partial

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.asked import Asked
from bot.core.errors import SeedreamError
from bot.core.job import DoorContext, JobKind, JobOrigin
from bot.core.localizable import N_
from bot.core.shapes import parse_size
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.attachments import message_images
from bot.discord.checks import check_door_permissions
from bot.discord.desk import Door
from bot.discord.languages import member_texts, server_texts
from bot.discord.replies import UNEXPECTED, reply_to_message, user_message_for
from bot.discord.views import InstructionModal
from bot.i18n.texts import Texts
from cogs._doors import DELIVERY_OPTIONS, EDIT_DEFAULTS, queue_composed, ratio_choices

log = logging.getLogger(__name__)

REPLY_HINT = N_(
    "Reply to a message that has images and mention me with what to change, "
    "e.g. “@me make the sky purple”."
)


class Edit(commands.Cog):
    """Image edits from every door."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image_menu)
        menu = app_commands.allowed_installs(guilds=True, users=False)(menu)
        menu = app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)(menu)
        self.menu = app_commands.guild_only(menu)

    async def cog_load(self) -> None:
        """Context menus can't be cog methods; register it on the tree."""
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        """Take the context menu off the tree."""
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="edit", description="Edit one or more images with an instruction")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        prompt="What to change",
        image="The image to edit (PNG, JPEG or WebP)",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        ratio="Aspect ratio (default: the first image's), a preset or any W:H",
        size="Exact size WIDTHxHEIGHT (default: the first image's shape)",
        **DELIVERY_OPTIONS,
    )
    async def edit(
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        ratio: str | None = None,
        size: str | None = None,
        private: bool | None = None,
        spoiler: bool | None = None,
    ) -> None:
        """Queue an edit of the attached images."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        width, height = parse_size(size) if size is not None else (None, None)
        asked = Asked(
            prompt=prompt, ratio=ratio.strip() if ratio else None, private=private, spoiler=spoiler
        )
        await self._start_from_interaction(
            interaction, asked, attachments, JobOrigin.SLASH, width=width, height=height
        )

    @edit.autocomplete("ratio")
    async def _ratio(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return ratio_choices(self.bot.desk.model_spec(None).ratios, current)

    async def edit_image_menu(self, interaction: Interaction, message: discord.Message) -> None:
        """Open the instruction modal at once (3 s window); the work happens on submit."""
        check_door_permissions(interaction)
        images = message_images(message)
        if not images:
            raise SeedreamError(N_("That message has no image to edit."))
        handler = partial(self._menu_submitted, images=images)
        await interaction.response.send_modal(InstructionModal(handler, member_texts(interaction)))

    async def _menu_submitted(
        self, interaction: Interaction, instruction: str, *, images: list[discord.Attachment]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        asked = Asked(prompt=instruction)
        await self._start_from_interaction(interaction, asked, images, JobOrigin.CONTEXT_MENU)

    async def _start_from_interaction(
        self,
        interaction: Interaction,
        asked: Asked,
        attachments: list[discord.Attachment],
        origin: JobOrigin,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        await queue_composed(
            interaction,
            self.bot.desk,
            asked,
            kind=JobKind.EDIT,
            origin=origin,
            attachments=attachments,
            applicable=EDIT_DEFAULTS,
            width=width,
            height=height,
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply that mentions the bot edits the replied-to message's images.

        Only a mention written in the text counts: replying to the bot's result pings it
        too (``message.mentions``), and "nice!" with that ping must not start a paid job.
        """
        me = self.bot.user
        if message.author.bot or message.guild is None or me is None:
            return
        if not self.bot.guild_allowed(message.guild.id):
            return  # not on ALLOWED_GUILD_IDS: say nothing, the bot is leaving that server
        if not mentions_explicitly(message.content, me.id):
            return
        if not isinstance(message.author, discord.Member):
            return
        # a reply in the channel: the server's language
        texts = server_texts(self.bot, message.guild.id)
        try:
            await self._edit_by_reply(message, me.id, texts)
        except SeedreamError as exc:
            await reply_to_message(message, user_message_for(exc, texts) or exc.user_message)
        except Exception:
            log.exception("Edit by reply failed (message %s)", message.id)
            await reply_to_message(message, texts._(UNEXPECTED))

    async def _edit_by_reply(self, message: discord.Message, bot_id: int, texts: Texts) -> None:
        assert isinstance(message.author, discord.Member)
        reference = message.reference
        if reference is None or reference.message_id is None:
            await reply_to_message(message, texts._(REPLY_HINT))
            return
        target = reference.resolved
        if not isinstance(target, discord.Message):
            try:
                target = await message.channel.fetch_message(reference.message_id)
            except discord.HTTPException:
                await reply_to_message(message, texts._("I can't read the message you replied to."))
                return
        attachments = message_images(target) + message_images(message)
        if not attachments:
            await reply_to_message(
                message, texts._("The message you replied to has no image to edit.")
            )
            return
        instruction = strip_mention(message.content, bot_id)
        if not instruction:
            await reply_to_message(message, texts._(REPLY_HINT))
            return
        guild = message.guild
        assert guild is not None
        channel = message.channel
        door = Door(
            member=message.author,
            channel_id=channel.id,
            bot_permissions=channel.permissions_for(guild.me),
            # computed from the gateway's member, role and overwrite data
            member_permissions=channel.permissions_for(message.author),
            in_thread=isinstance(channel, discord.Thread),
            context=DoorContext(upload_limit=guild.filesize_limit, reply_to=message.id),
            notify=partial(reply_to_message, message),
            texts=texts,
        )
        desk = self.bot.desk
        composed = await desk.compose(door, Asked(prompt=instruction), applicable=EDIT_DEFAULTS)
        job = await desk.start(
            door,
            kind=JobKind.EDIT,
            origin=JobOrigin.REPLY,
            request=composed.request,
            attachments=attachments,
            private=composed.private,
        )
        log.info("Job %s queued by reply %s", job.id, message.id)


def mentions_explicitly(content: str, bot_id: int) -> bool:
    """Whether the text itself mentions the bot (``<@id>`` or the older ``<@!id>``)."""
    return re.search(rf"<@!?{bot_id}>", content) is not None


def strip_mention(content: str, bot_id: int) -> str:
    """The instruction: the message text without the bot's mention."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Edit(bot))
