"""The buttons under cards and results. Their ``custom_id`` carries the job id, so they keep
working after a restart (``cogs/buttons.py`` registers the matching ``DynamicItem``s)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any

import discord

from bot.core.localizable import N_
from bot.discord.checks import server_gate
from bot.discord.replies import report_error
from bot.i18n.texts import Texts

#: ``sd:<action>:<job id>[:<image index>]``; job ids are 8 lower-case base32 characters, and
#: an index (0-based) names one image of the result
CUSTOM_ID = re.compile(
    r"sd:(?P<action>reroll|edit|delete|cancel|remix|pick|vary_subtle|vary_strong|upscale"
    r"|reference):(?P<job_id>[a-z2-7]{8})(?::(?P<index>\d{1,2}))?"
)
#: the select menu that picks one image of a result with more than four
CHOOSE_ID = re.compile(r"sd:choose:(?P<job_id>[a-z2-7]{8})")
#: a result shows numbered buttons up to this many images, a select menu past it
MAX_NUMBER_BUTTONS = 4


class Action(StrEnum):
    """What a button does."""

    REROLL = "reroll"
    EDIT = "edit"
    DELETE = "delete"
    CANCEL = "cancel"
    REMIX = "remix"
    #: pick one image of a result (then an action for it)
    PICK = "pick"
    VARY_SUBTLE = "vary_subtle"
    VARY_STRONG = "vary_strong"
    UPSCALE = "upscale"
    REFERENCE = "reference"


def custom_id(action: Action, job_id: str, index: int | None = None) -> str:
    """The custom id of ``action`` for ``job_id`` (and one of its images)."""
    tail = "" if index is None else f":{index}"
    return f"sd:{action}:{job_id}{tail}"


def choose_id(job_id: str) -> str:
    """The custom id of the image picker (a select menu) under ``job_id``'s result."""
    return f"sd:choose:{job_id}"


def _button(
    action: Action,
    job_id: str,
    label: str,
    style: discord.ButtonStyle,
    emoji: str | None,
    *,
    index: int | None = None,
    row: int | None = None,
) -> discord.ui.Button[discord.ui.View]:
    return discord.ui.Button(
        label=label,
        style=style,
        emoji=emoji,
        custom_id=custom_id(action, job_id, index),
        row=row,
    )


def card_view(job_id: str, texts: Texts) -> discord.ui.View:
    """Under a waiting job's card: Cancel (labelled in the server's language)."""
    view = discord.ui.View(timeout=None)
    cancel = texts._("Cancel")
    view.add_item(_button(Action.CANCEL, job_id, cancel, discord.ButtonStyle.secondary, "✖️"))
    return _stateless(view)


def result_view(
    job_id: str,
    texts: Texts,
    *,
    indexes: Sequence[int] = (0,),
    total: int = 1,
    upscale_tier: str | None = None,
) -> discord.ui.View:
    """Under a result message carrying images ``indexes`` of ``total``, labelled in
    ``texts``' language.

    One image: its actions directly, then Re-roll, Remix, Delete. Several: Re-roll, Remix,
    Edit all, Delete, then a numbered button per image of this message (a select menu past
    four) that opens that image's actions. At most 3 rows of 5 either way.
    """
    view = discord.ui.View(timeout=None)
    secondary = discord.ButtonStyle.secondary
    # one image: its actions on row 0, the job's on row 1; several: the job's, then the picker
    row = 1 if total == 1 else 0
    if total == 1:
        _add_image_actions(view, job_id, 0, upscale_tier, texts, row=0, edit_all=True)
    primary = discord.ButtonStyle.primary
    view.add_item(_button(Action.REROLL, job_id, texts._("Re-roll"), primary, "🎲", row=row))
    view.add_item(_button(Action.REMIX, job_id, texts._("Remix"), secondary, "🎛️", row=row))
    if total > 1:
        edit_all = texts._("Edit all")
        view.add_item(_button(Action.EDIT, job_id, edit_all, secondary, "✏️", row=row))
    danger = discord.ButtonStyle.danger
    view.add_item(_button(Action.DELETE, job_id, texts._("Delete"), danger, "🗑️", row=row))
    if total > 1:
        _add_picker(view, job_id, indexes, texts)
    return _stateless(view)


def image_view(job_id: str, index: int, upscale_tier: str | None, texts: Texts) -> discord.ui.View:
    """The actions for one picked image (sent privately to the member who picked it, in
    their language)."""
    view = discord.ui.View(timeout=None)
    _add_image_actions(view, job_id, index, upscale_tier, texts, row=0)
    return _stateless(view)


def _add_image_actions(
    view: discord.ui.View,
    job_id: str,
    index: int,
    upscale_tier: str | None,
    texts: Texts,
    *,
    row: int,
    edit_all: bool = False,
) -> None:
    """Vary (subtle), Vary (strong), 4K (when the model has a higher tier), Edit, Use as
    reference: one row. ``edit_all``: the Edit button is the whole-message one (one image)."""
    secondary = discord.ButtonStyle.secondary
    subtle, strong = texts._("Vary (subtle)"), texts._("Vary (strong)")
    items = [
        _button(Action.VARY_SUBTLE, job_id, subtle, secondary, "🌱", index=index, row=row),
        _button(Action.VARY_STRONG, job_id, strong, secondary, "🌪️", index=index, row=row),
    ]
    if upscale_tier is not None:
        items.append(
            _button(Action.UPSCALE, job_id, upscale_tier, secondary, "🔍", index=index, row=row)
        )
    edit_index = None if edit_all else index
    edit = texts._("Edit")
    items.append(_button(Action.EDIT, job_id, edit, secondary, "✏️", index=edit_index, row=row))
    reference = texts._("Use as reference")
    items.append(_button(Action.REFERENCE, job_id, reference, secondary, "🖼️", index=index, row=row))
    for item in items:
        view.add_item(item)


def _add_picker(view: discord.ui.View, job_id: str, indexes: Sequence[int], texts: Texts) -> None:
    """Numbered buttons ``1``-``n`` for this message's images, or a select menu past four."""
    if len(indexes) <= MAX_NUMBER_BUTTONS:
        for index in indexes:
            view.add_item(
                _button(
                    Action.PICK,
                    job_id,
                    str(index + 1),
                    discord.ButtonStyle.secondary,
                    None,
                    index=index,
                    row=1,
                )
            )
        return
    picker: discord.ui.Select[discord.ui.View] = discord.ui.Select(
        custom_id=choose_id(job_id),
        placeholder=texts._("Pick an image to vary, re-render, edit or reuse…"),
        options=[
            discord.SelectOption(
                label=texts._("Image {number}", number=index + 1), value=str(index)
            )
            for index in indexes
        ],
        row=1,
    )
    view.add_item(picker)


def _stateless(view: discord.ui.View) -> discord.ui.View:
    # A stopped view is still rendered, but discord.py does not keep it in memory per
    # message: clicks are routed by custom id to the DynamicItems, across restarts too.
    view.stop()
    return view


InstructionHandler = Callable[[discord.Interaction[Any], str], Awaitable[None]]
#: ``await handler(interaction, prompt, ratio)`` once a prompt modal is submitted
PromptHandler = Callable[[discord.Interaction[Any], str, str], Awaitable[None]]


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


class PromptModal(discord.ui.Modal):
    """Asks for a prompt and a ratio, pre-filled (Remix, Use as reference).

    ``title`` is a message id (``N_``), shown in ``texts``' language like the labels.
    """

    def __init__(
        self, handler: PromptHandler, texts: Texts, *, title: str, prompt: str, ratio: str
    ) -> None:
        super().__init__(title=texts._(title), timeout=900)
        self._handler = handler
        # built per modal: its labels are in the member's language
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=texts._("Prompt"),
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=4000,
            default=prompt[:4000],
        )
        self.ratio: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=texts._("Ratio (empty: the model's default)"),
            placeholder="16:9",
            required=False,
            max_length=11,
            default=ratio,
        )
        self.add_item(self.prompt)
        self.add_item(self.ratio)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The operator's server gate, as for commands (submits bypass the command tree)."""
        return await server_gate(interaction)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Pass the prompt and the ratio on."""
        await self._handler(interaction, self.prompt.value, self.ratio.value)

    async def on_error(  # type: ignore[override]  # Modal narrows BaseView's signature
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        """Errors reach the member through the one error path."""
        await report_error(interaction, error, where=f"the {self.title!r} modal")
