"""Embeds for job cards, results, failures and ``/status``. Pure functions of domain objects
and of the reader's ``Texts`` (the server's language in public, the member's in private)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from bot.core.asked import MemberDefaults
from bot.core.errors import summary_for
from bot.core.job import Job
from bot.core.localizable import N_
from bot.core.states import JobState
from bot.discord.lineage_render import action_label
from bot.i18n.texts import Texts
from bot.images.fit import FittedImage
from bot.quotas.rules import QuotaStatus

PROMPT_PREVIEW = 1000
COLOUR_WORKING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()

_TITLES = {"imagine": N_("Imagine"), "edit": N_("Edit"), "reroll": N_("Re-roll")}


def short_prompt(prompt: str, limit: int = PROMPT_PREVIEW) -> str:
    """The prompt, shortened for an embed, with Markdown neutralised."""
    text = discord.utils.escape_markdown(prompt)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timestamp(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp (rendered in the reader's own time zone and language)."""
    return discord.utils.format_dt(moment, style=style)  # type: ignore[arg-type]


def title(job: Job, texts: Texts) -> str:
    """The card's title: the action on a parent's image, else the command the member used."""
    if job.request.sequential:
        return texts._("Storyboard")
    return texts._(action_label(job) or _TITLES.get(job.kind, _TITLES["imagine"]))


def progress_line(
    job: Job,
    texts: Texts,
    *,
    position: int | None = None,
    progress: int | None = None,
    expected: float | None = None,
) -> str:
    """One line saying where the job is (with ``expected``: how long such tasks take)."""
    if job.state is JobState.QUEUED:
        if position:
            return texts._("Queued, position {position}", position=position)
        return texts._("Queued")
    if job.state in (JobState.SUBMITTED, JobState.RUNNING):
        shown = progress if progress is not None else job.progress
        line = texts._("Generating… {percent}%", percent=shown) if shown else texts._("Generating…")
        if expected is None:
            return line
        return texts._(
            "{line} (about {estimate})", line=line, estimate=estimate_text(expected, texts)
        )
    if job.state is JobState.DELIVERING:
        return texts._("Delivering…")
    if job.state is JobState.DONE:
        return texts._("Done")
    if job.state is JobState.CANCELLED:
        return texts._("Cancelled")
    return texts._("Failed")


def estimate_text(seconds: float, texts: Texts) -> str:
    """``12 s``, ``2 min``: an estimate, rounded as a person would say it."""
    if seconds < 60:
        return texts._("{seconds} s", seconds=max(1, round(seconds)))
    return texts._("{minutes} min", minutes=max(1, round(seconds / 60)))


def card_embed(
    job: Job,
    texts: Texts,
    *,
    position: int | None = None,
    progress: int | None = None,
    expected: float | None = None,
) -> discord.Embed:
    """The job card while the job is on its way (``expected``: the usual task time, s)."""
    line = progress_line(job, texts, position=position, progress=progress, expected=expected)
    embed = discord.Embed(
        title=f"{title(job, texts)} · {line}",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_WORKING,
    )
    embed.add_field(name=texts._("Requested by"), value=f"<@{job.user_id}>")
    frames = texts._("Frames") if job.request.sequential else texts._("Images")
    count = _marked(job, "count", texts.number(job.request.count), texts)
    embed.add_field(name=frames, value=count)
    embed.add_field(name=texts._("Size"), value=_size_text(job, (), texts))
    if job.request.reference_images:
        embed.add_field(
            name=texts._("References"), value=texts.number(len(job.request.reference_images))
        )
    add_request_options(embed, job, texts)
    embed.set_footer(text=texts._("Job {job_id}", job_id=job.id))
    return embed


def _marked(job: Job, option: str, value: str, texts: Texts) -> str:
    """``value``, with "(your default)" when the member's ``/settings`` supplied it."""
    if option in job.request.defaults:
        return texts._("{value} (your default)", value=value)
    return value


def option_name(name: str, texts: Texts) -> str:
    """A command option's name as the reader's client shows it (the command translator's)."""
    return texts.pgettext("option name", name)


def add_request_options(
    embed: discord.Embed,
    job: Job,
    texts: Texts,
    marked: frozenset[str] = frozenset({"count", "style"}),
) -> None:
    """The style, prompt enhancement, format and the member's defaults not ``marked`` in
    another field."""
    request = job.request
    if request.style:
        embed.add_field(name=texts._("Style"), value=_marked(job, "style", request.style, texts))
    if request.enhance:
        embed.add_field(
            name=texts._("Prompt enhancement"),
            value=texts._("used ({mode})", mode=request.enhance),
        )
    if request.output_format:
        embed.add_field(name=texts._("Format"), value=request.output_format.upper())
    rest = [name for name in request.defaults if name not in marked]
    if rest:
        embed.add_field(
            name=texts._("Your defaults"),
            value=", ".join(
                texts._("{value} (your default)", value=option_name(name, texts)) for name in rest
            ),
        )


def delayed_embed(job: Job, retry_until: datetime, texts: Texts) -> discord.Embed:
    """The card of a job whose images are ready but Discord won't take yet."""
    embed = card_embed(job, texts)
    embed.title = f"{title(job, texts)} · {texts._('Delivery delayed')}"
    embed.add_field(
        name=texts._("Delivery delayed"),
        value=texts._(
            "Discord isn't taking the images right now. They are kept and posted as soon as "
            "it does (tried until {until}); nothing is charged until then.",
            until=timestamp(retry_until, "f"),
        ),
        inline=False,
    )
    return embed


def result_embed(
    job: Job,
    images: Sequence[FittedImage],
    texts: Texts,
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
        title=title(job, texts),
        description=short_prompt(request.shown_prompt),
        colour=COLOUR_DONE,
    )
    embed.add_field(name=texts._("Requested by"), value=f"<@{job.user_id}>")
    shown_model = model or request.model or texts._("default")
    embed.add_field(name=texts._("Model"), value=_marked(job, "model", shown_model, texts))
    embed.add_field(name=texts._("Provider"), value=provider or job.provider or "?")
    embed.add_field(name=texts._("Size"), value=_size_text(job, images, texts))
    seed = str(request.seed) if request.seed is not None else texts._("random")
    embed.add_field(name=texts._("Seed"), value=seed)
    shown = len(images) if delivered is None else delivered
    embed.add_field(name=texts._("Cost"), value=cost_text(job, texts, delivered=shown))
    add_request_options(embed, job, texts, frozenset({"count", "style", "model"}))
    embed.set_footer(text=texts._("Job {job_id}", job_id=job.id))
    return embed


def failure_embed(job: Job, texts: Texts, *, refunded: int | None = None) -> discord.Embed:
    """The card of a job that failed, saying what was refunded."""
    embed = discord.Embed(
        title=f"{title(job, texts)} · {texts._('Failed')}",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_FAILED,
    )
    embed.add_field(
        name=texts._("Why"),
        value=reason_text(job.error_message, texts, job.error_code),
        inline=False,
    )
    back = job.cost_reserved if refunded is None else refunded
    embed.add_field(name=texts._("Refunded"), value=images_text(back, texts))
    embed.set_footer(text=texts._("Job {job_id}", job_id=job.id))
    return embed


def reason_text(reason: str | None, texts: Texts, code: str | None = None) -> str:
    """A stored failure reason (English, as the ledger keeps it) in the reader's language.

    A reason the catalog has is translated; one it lacks (filled with values, or a
    provider's own words) gives way to the general message of its error code."""
    if reason and texts.translates(reason):
        return texts._(reason)
    summary = summary_for(code)
    if summary is not None and texts.translates(summary) and not texts.is_source:
        return texts._(summary)
    return reason or texts._("The job failed.")


def failure_text(job: Job, reason: str, refunded: int, texts: Texts) -> str:
    """The private note sent when a failed job's card can't be updated."""
    return texts._(
        "Job `{job_id}` failed: {reason} {refunded} refunded.",
        job_id=job.id,
        reason=reason_text(reason, texts, job.error_code),
        refunded=images_text(refunded, texts),
    )


def cancelled_embed(job: Job, texts: Texts) -> discord.Embed:
    """The card of a job cancelled while it waited."""
    embed = discord.Embed(
        title=f"{title(job, texts)} · {texts._('Cancelled')}",
        description=short_prompt(job.request.shown_prompt),
        colour=COLOUR_CANCELLED,
    )
    embed.add_field(name=texts._("Refunded"), value=images_text(job.cost_reserved, texts))
    embed.set_footer(text=texts._("Job {job_id}", job_id=job.id))
    return embed


def status_embed(
    job: Job,
    texts: Texts,
    *,
    position: int | None,
    now: datetime,
    provider: str | None = None,
    expected: float | None = None,
) -> discord.Embed:
    """``/status JOB``: state, queue position, provider, elapsed time, cost, and for a running
    job with history, about how long it takes and how much is left."""
    embed = discord.Embed(
        title=texts._("Job {job_id}", job_id=job.id),
        description=short_prompt(job.request.prompt, 300),
        colour=_state_colour(job.state),
    )
    embed.add_field(name=texts._("State"), value=progress_line(job, texts, position=position))
    embed.add_field(
        name=texts._("Provider"), value=provider or job.provider or texts._("not yet chosen")
    )
    end = job.finished_at or now
    embed.add_field(
        name=texts._("Elapsed"), value=_duration((end - job.created_at).total_seconds(), texts)
    )
    embed.add_field(name=texts._("Cost"), value=cost_text(job, texts))
    if expected is not None and job.submitted_at is not None:
        left = expected - (now - job.submitted_at).total_seconds()
        due = (
            texts._("about {estimate} left", estimate=estimate_text(left, texts))
            if left >= 1
            else texts._("due now")
        )
        embed.add_field(
            name=texts._("Expected"),
            value=texts._(
                "about {estimate} ({due})", estimate=estimate_text(expected, texts), due=due
            ),
        )
    embed.add_field(name=texts._("Started"), value=timestamp(job.created_at))
    if job.request.member_prompt is not None:
        # the card shows the member's words; here is what the provider was sent
        sent = (
            texts._("Prompt sent (style {style})", style=job.request.style)
            if job.request.style
            else texts._("Prompt sent")
        )
        embed.add_field(name=sent, value=short_prompt(job.request.prompt, 1000), inline=False)
    if job.error_message and job.state is JobState.FAILED:
        embed.add_field(
            name=texts._("Why it failed"),
            value=reason_text(job.error_message, texts, job.error_code),
            inline=False,
        )
    return embed


def overview_embed(jobs: Sequence[Job], quota: QuotaStatus, texts: Texts) -> discord.Embed:
    """``/status``: the caller's last jobs and what is left today."""
    embed = discord.Embed(title=texts._("Your images"), colour=COLOUR_WORKING)
    embed.add_field(
        name=texts._("Left today"),
        value=texts._(
            "{left} of {allowance}", left=quota.remaining_today, allowance=quota.daily_allowance
        ),
    )
    embed.add_field(name=texts._("Bonus credits"), value=texts.number(quota.bonus))
    embed.add_field(name=texts._("Resets"), value=timestamp(quota.reset_at))
    if quota.blocked:
        embed.add_field(
            name=texts._("Blocked"), value=texts._("A moderator has blocked you."), inline=False
        )
    lines = [
        f"`{job.id}` {progress_line(job, texts)} · {timestamp(job.created_at)} · "
        f"{short_prompt(job.request.prompt, 60)}"
        for job in jobs
    ]
    embed.add_field(
        name=texts._("Recent jobs"), value="\n".join(lines) or texts._("None yet."), inline=False
    )
    return embed


def cost_text(job: Job, texts: Texts, *, delivered: int | None = None) -> str:
    """What the job costs: reserved while running, charged (and refunded) once finished."""
    if job.charged is not None:
        charged, refunded = job.charged, job.cost_reserved - job.charged
    elif delivered is not None:
        charged, refunded = delivered, max(0, job.cost_reserved - delivered)
    else:
        return texts._("{images} reserved", images=images_text(job.cost_reserved, texts))
    text = images_text(charged, texts)
    if refunded:
        return texts._("{images} ({refunded} refunded)", images=text, refunded=refunded)
    return text


def images_text(count: int, texts: Texts) -> str:
    """``1 image``, ``3 images``, with the locale's plural forms."""
    return texts.ngettext("{count} image", "{count} images", count)


def _size_text(job: Job, images: Sequence[FittedImage], texts: Texts) -> str:
    if images:
        return f"{images[0].width}×{images[0].height}"
    request = job.request
    if request.exact_size:
        return f"{request.width}×{request.height}"
    parts = (request.resolution, request.aspect_ratio)
    return " ".join(part for part in parts if part) or texts._("default")


def _duration(seconds: float, texts: Texts) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return texts._("{seconds} s", seconds=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return texts._("{minutes} min {seconds} s", minutes=minutes, seconds=seconds)
    hours, minutes = divmod(minutes, 60)
    return texts._("{hours} h {minutes} min", hours=hours, minutes=minutes)


def _state_colour(state: JobState) -> discord.Colour:
    if state is JobState.DONE:
        return COLOUR_DONE
    if state is JobState.FAILED:
        return COLOUR_FAILED
    if state is JobState.CANCELLED:
        return COLOUR_CANCELLED
    return COLOUR_WORKING


def defaults_embed(
    defaults: MemberDefaults, note: str | None, texts: Texts, command: str = "settings"
) -> discord.Embed:
    """``/settings``: the member's defaults in this server (``note``: already translated).
    Option names are shown as the reader's client shows them."""
    embed = discord.Embed(
        title=texts._("Your defaults here"), description=note, colour=COLOUR_WORKING
    )
    for name, value in defaults.items():
        shown = (texts._("on") if value else texts._("off")) if isinstance(value, bool) else value
        embed.add_field(name=option_name(name, texts), value=f"`{shown}`")
    if defaults.empty:
        options = " ".join(
            f"`{option_name(name, texts)}:`"
            for name in ("model", "ratio", "resolution", "count", "style", "private", "spoiler")
        )
        embed.add_field(
            name=texts._("None set"),
            value=texts._(
                "Commands use the server's defaults. Set yours with `/{command}` {options}.",
                command=texts.pgettext("command name", command),
                options=options,
            ),
            inline=False,
        )
    return embed


def styles_embed(
    server: Mapping[str, str], operator: Mapping[str, str], texts: Texts
) -> discord.Embed:
    """``/style list``: this server's styles, then the bot's."""
    embed = discord.Embed(title=texts._("Styles"), colour=COLOUR_WORKING)
    headings = ((texts._("This server's styles"), server), (texts._("The bot's styles"), operator))
    for heading, styles in headings:
        lines = [f"**{name}** · `{_plain(template, 120)}`" for name, template in styles.items()]
        text = "\n".join(lines) or texts._("None.")
        embed.add_field(name=heading, value=text[:1024], inline=False)
    embed.set_footer(
        text=texts._(
            "Use one with /{command} {option}: — {placeholder} is where your prompt goes.",
            command=texts.pgettext("command name", "imagine"),
            option=option_name("style", texts),
            placeholder="{prompt}",
        )
    )
    return embed


def _plain(text: str, limit: int) -> str:
    """Text for inline code: no backticks, shortened."""
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
