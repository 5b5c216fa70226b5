"""Embeds for job cards, results, failures and ``/status``. Pure functions of domain objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from bot.core.asked import MemberDefaults
from bot.core.job import Job
from bot.core.states import JobState
from bot.discord.lineage_render import action_label
from bot.images.fit import FittedImage
from bot.quotas.rules import QuotaStatus

PROMPT_PREVIEW = 1000
COLOUR_WORKING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()

_TITLES = {"imagine": "Imagine", "edit": "Edit", "reroll": "Re-roll"}


def short_prompt(prompt: str, limit: int = PROMPT_PREVIEW) -> str:
    """The prompt, shortened for an embed, with Markdown neutralised."""
    text = discord.utils.escape_markdown(prompt)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timestamp(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp (rendered in the reader's own time zone)."""
    return discord.utils.format_dt(moment, style=style)  # type: ignore[arg-type]


def progress_line(
    job: Job,
    *,
    position: int | None = None,
    progress: int | None = None,
    expected: float | None = None,
) -> str:
    """One line saying where the job is (with ``expected``: how long such tasks take)."""
    if job.state is JobState.QUEUED:
        return f"Queued, position {position}" if position else "Queued"
    if job.state in (JobState.SUBMITTED, JobState.RUNNING):
        shown = progress if progress is not None else job.progress
        line = f"Generating… {shown}%" if shown else "Generating…"
        return f"{line} (about {estimate_text(expected)})" if expected is not None else line
    if job.state is JobState.DELIVERING:
        return "Delivering…"
    if job.state is JobState.DONE:
        return "Done"
    if job.state is JobState.CANCELLED:
        return "Cancelled"
    return "Failed"


def estimate_text(seconds: float) -> str:
    """``12 s``, ``2 min``: an estimate, rounded as a person would say it."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    return f"{max(1, round(seconds / 60))} min"


def card_embed(
    job: Job,
    *,
    position: int | None = None,
    progress: int | None = None,
    expected: float | None = None,
) -> discord.Embed:
    """The job card while the job is on its way (``expected``: the usual task time, s)."""
    line = progress_line(job, position=position, progress=progress, expected=expected)
    embed = discord.Embed(
        title=f"{title(job)} · {line}",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_WORKING,
    )
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    frames = "Frames" if job.request.sequential else "Images"
    embed.add_field(name=frames, value=_marked(job, "count", str(job.request.count)))
    embed.add_field(name="Size", value=_size_text(job, ()))
    if job.request.reference_images:
        embed.add_field(name="References", value=str(len(job.request.reference_images)))
    add_request_options(embed, job)
    embed.set_footer(text=f"Job {job.id}")
    return embed


def title(job: Job) -> str:
    """The card's title: the action on a parent's image, else the command the member used."""
    if job.request.sequential:
        return "Storyboard"
    return action_label(job) or _TITLES.get(job.kind, "Imagine")


def _marked(job: Job, option: str, value: str) -> str:
    """``value``, with "(your default)" when the member's ``/settings`` supplied it."""
    return f"{value} (your default)" if option in job.request.defaults else value


def add_request_options(
    embed: discord.Embed, job: Job, marked: frozenset[str] = frozenset({"count", "style"})
) -> None:
    """The style, prompt enhancement, format and the member's defaults not ``marked`` in
    another field."""
    request = job.request
    if request.style:
        embed.add_field(name="Style", value=_marked(job, "style", request.style))
    if request.enhance:
        embed.add_field(name="Prompt enhancement", value=f"used ({request.enhance})")
    if request.output_format:
        embed.add_field(name="Format", value=request.output_format.upper())
    rest = [name for name in request.defaults if name not in marked]
    if rest:
        embed.add_field(
            name="Your defaults", value=", ".join(f"{name} (your default)" for name in rest)
        )


def delayed_embed(job: Job, retry_until: datetime) -> discord.Embed:
    """The card of a job whose images are ready but Discord won't take yet."""
    embed = card_embed(job)
    embed.title = f"{title(job)} · Delivery delayed"
    embed.add_field(
        name="Delivery delayed",
        value="Discord isn't taking the images right now. They are kept and posted as soon as "
        f"it does (tried until {timestamp(retry_until, 'f')}); nothing is charged until then.",
        inline=False,
    )
    return embed


def result_embed(
    job: Job,
    images: Sequence[FittedImage],
    *,
    model: str | None = None,
    provider: str | None = None,
    delivered: int | None = None,
) -> discord.Embed:
    """The result card: prompt, model, provider, size, seed, cost and job id.

    ``delivered``: every image the job delivers (more than ``images`` when they need
    several messages)."""
    request = job.request
    embed = discord.Embed(
        title=title(job),
        description=short_prompt(request.shown_prompt),
        colour=COLOUR_DONE,
    )
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    embed.add_field(name="Model", value=_marked(job, "model", model or request.model or "default"))
    embed.add_field(name="Provider", value=provider or job.provider or "?")
    embed.add_field(name="Size", value=_size_text(job, images))
    embed.add_field(name="Seed", value=str(request.seed) if request.seed is not None else "random")
    shown = len(images) if delivered is None else delivered
    embed.add_field(name="Cost", value=cost_text(job, delivered=shown))
    add_request_options(embed, job, frozenset({"count", "style", "model"}))
    embed.set_footer(text=f"Job {job.id}")
    return embed


def failure_embed(job: Job, *, refunded: int | None = None) -> discord.Embed:
    """The card of a job that failed, saying what was refunded."""
    embed = discord.Embed(
        title=f"{title(job)} · Failed",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_FAILED,
    )
    embed.add_field(name="Why", value=job.error_message or "The job failed.", inline=False)
    back = job.cost_reserved if refunded is None else refunded
    embed.add_field(name="Refunded", value=_images(back))
    embed.set_footer(text=f"Job {job.id}")
    return embed


def failure_text(job: Job, reason: str, refunded: int) -> str:
    """The private note sent when a failed job's card can't be updated."""
    return f"Job `{job.id}` failed: {reason} {_images(refunded)} refunded."


def cancelled_embed(job: Job) -> discord.Embed:
    """The card of a job cancelled while it waited."""
    embed = discord.Embed(
        title=f"{title(job)} · Cancelled",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_CANCELLED,
    )
    embed.add_field(name="Refunded", value=_images(job.cost_reserved))
    embed.set_footer(text=f"Job {job.id}")
    return embed


def status_embed(
    job: Job,
    *,
    position: int | None,
    now: datetime,
    provider: str | None = None,
    expected: float | None = None,
) -> discord.Embed:
    """``/status JOB``: state, queue position, provider, elapsed time, cost, and for a running
    job with history, about how long it takes and how much is left."""
    embed = discord.Embed(
        title=f"Job {job.id}",
        description=short_prompt(job.request.prompt, 300),
        colour=_state_colour(job.state),
    )
    embed.add_field(name="State", value=progress_line(job, position=position))
    embed.add_field(name="Provider", value=provider or job.provider or "not yet chosen")
    end = job.finished_at or now
    embed.add_field(name="Elapsed", value=_duration((end - job.created_at).total_seconds()))
    embed.add_field(name="Cost", value=cost_text(job))
    if expected is not None and job.submitted_at is not None:
        left = expected - (now - job.submitted_at).total_seconds()
        due = f"about {estimate_text(left)} left" if left >= 1 else "due now"
        embed.add_field(name="Expected", value=f"about {estimate_text(expected)} ({due})")
    embed.add_field(name="Started", value=timestamp(job.created_at))
    if job.request.member_prompt is not None:
        # the card shows the member's words; here is what the provider was sent
        style = f" (style {job.request.style})" if job.request.style else ""
        embed.add_field(
            name=f"Prompt sent{style}",
            value=short_prompt(job.request.prompt, 1000),
            inline=False,
        )
    if job.error_message and job.state is JobState.FAILED:
        embed.add_field(name="Why it failed", value=job.error_message, inline=False)
    return embed


def overview_embed(jobs: Sequence[Job], quota: QuotaStatus) -> discord.Embed:
    """``/status``: the caller's last jobs and what is left today."""
    embed = discord.Embed(title="Your images", colour=COLOUR_WORKING)
    embed.add_field(name="Left today", value=f"{quota.remaining_today} of {quota.daily_allowance}")
    embed.add_field(name="Bonus credits", value=str(quota.bonus))
    embed.add_field(name="Resets", value=timestamp(quota.reset_at))
    if quota.blocked:
        embed.add_field(name="Blocked", value="A moderator has blocked you.", inline=False)
    lines = [
        f"`{job.id}` {progress_line(job)} · {timestamp(job.created_at)} · "
        f"{short_prompt(job.request.prompt, 60)}"
        for job in jobs
    ]
    embed.add_field(name="Recent jobs", value="\n".join(lines) or "None yet.", inline=False)
    return embed


def cost_text(job: Job, *, delivered: int | None = None) -> str:
    """What the job costs: reserved while running, charged (and refunded) once finished."""
    if job.charged is not None:
        refunded = job.cost_reserved - job.charged
        text = _images(job.charged)
        return f"{text} ({refunded} refunded)" if refunded else text
    if delivered is not None:
        refunded = job.cost_reserved - delivered
        return f"{_images(delivered)} ({refunded} refunded)" if refunded > 0 else _images(delivered)
    return f"{_images(job.cost_reserved)} reserved"


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _size_text(job: Job, images: Sequence[FittedImage]) -> str:
    if images:
        return f"{images[0].width}×{images[0].height}"
    request = job.request
    if request.exact_size:
        return f"{request.width}×{request.height}"
    parts = (request.resolution, request.aspect_ratio)
    return " ".join(part for part in parts if part) or "default"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _state_colour(state: JobState) -> discord.Colour:
    if state is JobState.DONE:
        return COLOUR_DONE
    if state is JobState.FAILED:
        return COLOUR_FAILED
    if state is JobState.CANCELLED:
        return COLOUR_CANCELLED
    return COLOUR_WORKING


def defaults_embed(defaults: MemberDefaults, note: str | None) -> discord.Embed:
    """``/settings``: the member's defaults in this server."""
    embed = discord.Embed(title="Your defaults here", description=note, colour=COLOUR_WORKING)
    for name, value in defaults.items():
        shown = ("on" if value else "off") if isinstance(value, bool) else str(value)
        embed.add_field(name=name, value=f"`{shown}`")
    if defaults.empty:
        embed.add_field(
            name="None set",
            value="Commands use the server's defaults. Set yours with `/settings model:` "
            "`ratio:` `resolution:` `count:` `style:` `private:` `spoiler:`.",
            inline=False,
        )
    return embed


def styles_embed(server: Mapping[str, str], operator: Mapping[str, str]) -> discord.Embed:
    """``/style list``: this server's styles, then the bot's."""
    embed = discord.Embed(title="Styles", colour=COLOUR_WORKING)
    for heading, styles in (("This server's styles", server), ("The bot's styles", operator)):
        lines = [f"**{name}** · `{_plain(template, 120)}`" for name, template in styles.items()]
        text = "\n".join(lines) or "None."
        embed.add_field(name=heading, value=text[:1024], inline=False)
    embed.set_footer(text="Use one with /imagine style: — {prompt} is where your prompt goes.")
    return embed


def _plain(text: str, limit: int) -> str:
    """Text for inline code: no backticks, shortened."""
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
