"""Who may do what: the server gate, the post permissions of a door, and who is a moderator.

One rule for "moderator" everywhere (README): a member with **Manage Server** in the guild.
Moderators use ``/quota`` and ``/blocklist``, and may delete or cancel someone else's job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.core.localizable import N_
from bot.discord.languages import member_texts
from bot.discord.replies import PostPermissionsError, send_to_member

log = logging.getLogger(__name__)

SERVER_NOT_ALLOWED = N_(
    "This bot is not enabled in this server, so it can't do anything here. Nothing was charged."
)
#: the one permission that makes a member a moderator
MODERATOR_PERMISSION = "manage_guild"
REQUIRED = ("view_channel", "send_messages", "embed_links", "attach_files")
#: what the member needs: a job posts where they asked, so they must be able to post there
MEMBER_REQUIRED = ("send_messages", "embed_links", "attach_files")


def is_moderator(permissions: discord.Permissions) -> bool:
    """Whether these (the member's, as Discord resolved them) make a moderator.

    Discord resolves an administrator's permissions to all of them; the bit is checked too
    for permissions built by hand.
    """
    return bool(getattr(permissions, MODERATOR_PERMISSION) or permissions.administrator)


def require_moderator(interaction: discord.Interaction[Any]) -> int:
    """The guild id, once the caller is known to be a moderator there.

    Raises ``NoPrivateMessage`` outside a guild and ``MissingPermissions`` without Manage
    Server; the tree turns both into an ephemeral refusal. Discord's
    ``default_member_permissions`` only hides the commands and can be overridden per guild,
    so this runs server-side on every moderator subcommand and autocomplete.
    """
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not is_moderator(interaction.permissions):
        raise app_commands.MissingPermissions([MODERATOR_PERMISSION])
    return interaction.guild_id


def moderator_here(interaction: discord.Interaction[Any]) -> bool:
    """``require_moderator`` as a yes/no (for autocomplete, which must not raise)."""
    return interaction.guild_id is not None and is_moderator(interaction.permissions)


def missing_post_permissions(
    permissions: discord.Permissions, *, thread: bool, needed: Sequence[str] = REQUIRED
) -> list[str]:
    """The permissions missing to post cards and results in a channel (the bot's by default).

    In a thread, "Send Messages in Threads" stands in for "Send Messages".
    """
    wanted = [
        "send_messages_in_threads" if thread and name == "send_messages" else name
        for name in needed
    ]
    return [name for name in wanted if not getattr(permissions, name)]


def check_post_permissions(
    *, bot: discord.Permissions, member: discord.Permissions, thread: bool
) -> None:
    """Refuse unless both the bot and the member may post results here."""
    missing = missing_post_permissions(bot, thread=thread)
    if missing:
        raise PostPermissionsError(
            N_("I can't post results in this channel: I need {permissions}. Nothing was charged."),
            missing,
        )
    missing = missing_post_permissions(member, thread=thread, needed=MEMBER_REQUIRED)
    if missing:
        raise PostPermissionsError(
            N_(
                "You can't post images in this channel, so I won't post them for you here: "
                "you need {permissions}. Nothing was charged."
            ),
            missing,
        )


def check_door_permissions(interaction: discord.Interaction[Any]) -> None:
    """Refuse at once, before a modal asks for anything, if the bot or the member can't post
    here (``JobDesk.start`` checks again when the job is asked for)."""
    check_post_permissions(
        bot=interaction.app_permissions,
        member=interaction.permissions,
        thread=isinstance(interaction.channel, discord.Thread),
    )


async def server_gate(interaction: discord.Interaction[Any]) -> bool:
    """True when the interaction's server is on the operator's allow-list.

    Otherwise refuse it (ephemerally; autocomplete gets no choices) before any work, and
    return False. Buttons and modals call this from their own ``interaction_check``: discord.py
    routes them past the tree.
    """
    if bool(interaction.client.guild_allowed(interaction.guild_id)):
        return True
    log.info(
        "Refused an interaction from server %s: it is not in ALLOWED_GUILD_IDS",
        interaction.guild_id,
    )
    if interaction.type is discord.InteractionType.autocomplete:
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.autocomplete([])
    else:
        await send_to_member(interaction, member_texts(interaction)._(SERVER_NOT_ALLOWED))
    return False
