"""The buttons under cards and results. Their ``custom_id`` carries the job id, so they keep
working after a restart (``cogs/buttons.py`` registers the matching ``DynamicItem``s)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import discord

from bot.core.localizable import N_
from bot.discord.checks import server_gate
from bot.discord.replies import report_error
from bot.i18n.texts import Texts

#: ``sd:<action>:<job id>``; job ids are 8 lower-case base32 characters
CUSTOM_ID = re.compile(r"sd:(?P<action>reroll|edit|delete|cancel):(?P<job_id>[a-z2-7]{8})")


class Action(StrEnum):
    """What a button does."""

    REROLL = "reroll"
    EDIT = "edit"
    DELETE = "delete"
    CANCEL = "cancel"


def custom_id(action: Action, job_id: str) -> str:
    """The custom id of ``action`` for ``job_id``."""
    return f"sd:{action}:{job_id}"


def _button(
    action: Action, job_id: str, label: str, style: discord.ButtonStyle, emoji: str
) -> discord.ui.Button[discord.ui.View]:
    return discord.ui.Button(
        label=label, style=style, emoji=emoji, custom_id=custom_id(action, job_id)
    )


def card_view(job_id: str, texts: Texts) -> discord.ui.View:
    """Under a waiting job's card: Cancel (labelled in the server's language)."""
    view = discord.ui.View(timeout=None)
    cancel = texts._("Cancel")
    view.add_item(_button(Action.CANCEL, job_id, cancel, discord.ButtonStyle.secondary, "✖️"))
    return _stateless(view)


def result_view(job_id: str, texts: Texts) -> discord.ui.View:
    """Under a result: Re-roll, Edit, Delete."""
    view = discord.ui.View(timeout=None)
    primary, secondary, danger = (
        discord.ButtonStyle.primary,
        discord.ButtonStyle.secondary,
        discord.ButtonStyle.danger,
    )
    view.add_item(_button(Action.REROLL, job_id, texts._("Re-roll"), primary, "🎲"))
    view.add_item(_button(Action.EDIT, job_id, texts._("Edit"), secondary, "✏️"))
    view.add_item(_button(Action.DELETE, job_id, texts._("Delete"), danger, "🗑️"))
    return _stateless(view)


def _stateless(view: discord.ui.View) -> discord.ui.View:
    # A stopped view is still rendered, but discord.py does not keep it in memory per
    # message: clicks are routed by custom id to the DynamicItems, across restarts too.
    view.stop()
    return view


InstructionHandler = Callable[[discord.Interaction[Any], str], Awaitable[None]]


class InstructionModal(discord.ui.Modal):
    """Asks for an edit instruction, then hands it to ``handler``.

    The modal is answered before any slow work (Discord allows 3 s to open it); the
    handler defers and does the rest.
    """

    def __init__(
        self, handler: InstructionHandler, texts: Texts, *, title: str = N_("Edit image")
    ) -> None:
        super().__init__(title=texts._(title), timeout=900)
        self._handler = handler
        # built per modal: its label is in the member's language
        self.instruction: discord.ui.TextInput[InstructionModal] = discord.ui.TextInput(
            label=texts._("What should change?"),
            placeholder=texts._("make the sky purple"),
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=2000,
        )
        self.add_item(self.instruction)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The operator's server gate, as for commands (submits bypass the command tree)."""
        return await server_gate(interaction)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Pass the instruction on."""
        await self._handler(interaction, self.instruction.value)

    async def on_error(  # type: ignore[override]  # Modal narrows BaseView's signature
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        """Errors reach the member through the one error path."""
        await report_error(interaction, error, where=f"the {self.title!r} modal")
