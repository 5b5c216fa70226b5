"""Where an image came from and what was made of it: the lineage lines of ``/status``."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.core.job import Job, JobAction
from bot.core.localizable import N_
from bot.i18n.texts import Texts

#: how each action is named on cards, results and in ``/status`` (message ids)
ACTION_LABELS: dict[JobAction, str] = {
    JobAction.REROLL: N_("Re-roll"),
    JobAction.EDIT: N_("Edit"),
    JobAction.VARY_SUBTLE: N_("Vary (subtle)"),
    JobAction.VARY_STRONG: N_("Vary (strong)"),
    JobAction.UPSCALE: N_("4K re-render"),
    JobAction.REFERENCE: N_("Use as reference"),
    JobAction.REMIX: N_("Remix"),
}
#: children listed in ``/status`` (an embed field holds 1024 characters)
MAX_CHILDREN = 8


def action_label(job: Job) -> str | None:
    """The action that made ``job`` from its parent, as a message id to translate (None: no
    parent)."""
    return ACTION_LABELS.get(job.action) if job.action is not None else None


def message_link(job: Job) -> str | None:
    """A link to the job's result (its first result message, else its card)."""
    message_id = job.result_message_ids[0] if job.result_message_ids else job.card_message_id
    if message_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{message_id}"


def _image_link(job: Job, index: int) -> str | None:
    image = next((image for image in job.images if image.index == index), None)
    if image is None or image.message_id is None:
        return message_link(job)
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{image.message_id}"


def _how(job: Job, texts: Texts) -> str:
    label = texts._(action_label(job) or N_("Made"))
    if job.source_index is None:
        return label
    return texts._("{action} of image {number}", action=label, number=job.source_index + 1)


def _linked(text: str, link: str | None) -> str:
    return f"[{text}]({link})" if link else text


def add_lineage(
    embed: discord.Embed,
    job: Job,
    ancestors: Sequence[Job],
    children: Sequence[Job],
    texts: Texts,
) -> None:
    """Add the chain to a ``/status`` embed: ``ancestors`` (parent first) and ``children``,
    in the reader's language."""
    if job.parent_job_id is not None:
        parent = ancestors[0] if ancestors else None
        where = (
            _image_link(parent, job.source_index)
            if parent is not None and job.source_index is not None
            else (message_link(parent) if parent is not None else None)
        )
        parent_link = _linked(f"`{job.parent_job_id}`", where)
        if parent is None:
            line = texts._(
                "{how} of job {job} (no longer in the ledger)",
                how=_how(job, texts),
                job=parent_link,
            )
        else:
            line = texts._("{how} of job {job}", how=_how(job, texts), job=parent_link)
        embed.add_field(name=texts._("Came from"), value=line, inline=False)
        if len(ancestors) > 1:
            chain = " → ".join(f"`{a.id}`" for a in reversed(ancestors))
            embed.add_field(name=texts._("Chain"), value=f"{chain} → **`{job.id}`**", inline=False)
    if children:
        lines = [
            f"{_linked(f'`{child.id}`', message_link(child))} · {_how(child, texts)}"
            for child in children[:MAX_CHILDREN]
        ]
        if len(children) > MAX_CHILDREN:
            lines.append(texts._("… and {count} more", count=len(children) - MAX_CHILDREN))
        embed.add_field(name=texts._("Made from it"), value="\n".join(lines), inline=False)
