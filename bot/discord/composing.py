"""From what a member typed to the request sent: their ``/settings`` defaults, then the style."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.asked import Asked, apply_style, storyboard_prompt, with_defaults
from bot.core.errors import RequestValidationError
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.jobs.preferences import Preferences


@dataclass(frozen=True)
class Composed:
    """The request to validate and whether its card and images go to the member's DMs."""

    request: GenerationRequest
    private: bool


async def compose(
    preferences: Preferences,
    guild_id: int,
    user_id: int,
    asked: Asked,
    *,
    applicable: frozenset[str] | None = None,
    **extra: Any,
) -> Composed:
    """Fill what the member left out from their defaults, expand the style, build the request.

    ``extra`` are request fields no default touches (seed, enhance, output_format, …).
    """
    if not asked.prompt.strip():  # before a style or a storyboard adds words to it
        raise RequestValidationError("prompt", N_("must not be empty."))
    defaults = await preferences.defaults(guild_id, user_id)
    asked, used = with_defaults(asked, defaults, applicable)
    prompt, member_prompt, style = asked.prompt, None, None
    if asked.style:
        try:
            style, template = await preferences.template(guild_id, asked.style)
        except RequestValidationError as exc:
            raise blame_default(exc, used) from None
        prompt, member_prompt = apply_style(template, asked.prompt), asked.prompt.strip()
    count = 1 if asked.count is None else asked.count
    if extra.get("sequential"):
        prompt, member_prompt = storyboard_prompt(prompt, count), asked.prompt.strip()
    request = GenerationRequest(
        prompt=prompt,
        member_prompt=member_prompt,
        style=style,
        model=asked.model,
        aspect_ratio=asked.ratio,
        resolution=asked.resolution,
        count=count,
        spoiler=bool(asked.spoiler),
        defaults=used,
        **extra,
    )
    return Composed(request=request, private=bool(asked.private))


def blame_default(exc: RequestValidationError, defaults: tuple[str, ...]) -> RequestValidationError:
    """The same error, saying so when the refused value came from the member's defaults."""
    if exc.field in defaults:
        return RequestValidationError(
            exc.field,
            exc.problem,
            exc.allowed,
            note=DEFAULT_NOTE,
            **exc.problem_params,
        )
    return exc


DEFAULT_NOTE = N_(
    "(That is your default: change it with /settings, or give the option explicitly.)"
)
