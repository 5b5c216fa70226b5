"""A member's own defaults, what a door was asked, and named prompt styles (pure, no I/O)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.core.errors import RequestValidationError
from bot.core.localizable import N_

PLACEHOLDER = "{prompt}"
#: a style name: what `/style add` and autocomplete show, short and plain
STYLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
TEMPLATE_MAX = 1000

#: the styles shipped with the bot (``STYLES_PATH`` replaces them)
DEFAULT_STYLES: dict[str, str] = {
    "photo": "{prompt}, professional photograph, natural light, sharp focus, 35mm",
    "cinematic": "{prompt}, cinematic film still, dramatic lighting, shallow depth of field",
    "anime": "{prompt}, anime illustration, clean line art, vibrant cel shading",
    "watercolor": "{prompt}, delicate watercolor painting on textured paper, soft washes",
    "pixel-art": "{prompt}, detailed 16-bit pixel art, limited palette",
    "3d-render": "{prompt}, 3D render, soft studio lighting, octane render, high detail",
}


@dataclass(frozen=True)
class MemberDefaults:
    """What ``/settings`` stored for one member in one server (None: not set)."""

    model: str | None = None
    ratio: str | None = None
    resolution: str | None = None
    count: int | None = None
    style: str | None = None
    private: bool | None = None
    spoiler: bool | None = None

    def items(self) -> list[tuple[str, str | int | bool]]:
        """The options set, in the order ``/settings`` shows them."""
        return [
            (f.name, value) for f in fields(self) if (value := getattr(self, f.name)) is not None
        ]

    @property
    def empty(self) -> bool:
        """True when nothing is set."""
        return not self.items()

    def updated(self, **changes: str | int | bool | None) -> MemberDefaults:
        """These defaults with the options given (None leaves an option as it is)."""
        kept: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)


@dataclass(frozen=True)
class Asked:
    """What a member asked for at a door; None means "not given" (a default may fill it)."""

    prompt: str
    model: str | None = None
    ratio: str | None = None
    resolution: str | None = None
    count: int | None = None
    style: str | None = None
    private: bool | None = None
    spoiler: bool | None = None


#: the options ``/settings`` may fill
DEFAULTABLE = tuple(f.name for f in fields(MemberDefaults))


def with_defaults(
    asked: Asked, defaults: MemberDefaults, applicable: frozenset[str] | None = None
) -> tuple[Asked, tuple[str, ...]]:
    """``asked`` with the member's defaults where an option was not given; and which were used.

    ``applicable`` limits the options a command takes from the defaults (None: all).
    """
    used: list[str] = []
    changes: dict[str, Any] = {}
    for name, value in defaults.items():
        if applicable is not None and name not in applicable:
            continue
        if getattr(asked, name) is None:
            changes[name] = value
            used.append(name)
    return replace(asked, **changes), tuple(used)


def check_style_name(name: str) -> str:
    """The name, lowercased; a clear error when it is not a short plain word."""
    cleaned = name.strip().lower()
    if not STYLE_NAME.fullmatch(cleaned):
        raise RequestValidationError(
            "name",
            N_(
                "a style name is 1-32 characters: letters, digits, `-` and `_`, "
                "starting with a letter or digit."
            ),
        )
    return cleaned


def check_template(template: str) -> str:
    """The template, stripped; a clear error without ``{prompt}`` or when too long."""
    cleaned = template.strip()
    if PLACEHOLDER not in cleaned:
        raise RequestValidationError(
            "template",
            N_("must contain `{placeholder}`, where the member's prompt goes."),
            placeholder=PLACEHOLDER,
        )
    if len(cleaned) > TEMPLATE_MAX:
        raise RequestValidationError(
            "template",
            N_("is {length} characters; a template takes at most {most}."),
            length=len(cleaned),
            most=TEMPLATE_MAX,
        )
    return cleaned


def apply_style(template: str, prompt: str) -> str:
    """The prompt sent: the template with the member's prompt in place of ``{prompt}``."""
    return template.replace(PLACEHOLDER, prompt.strip())


def storyboard_prompt(prompt: str, frames: int) -> str:
    """A storyboard's prompt: the count stated in words too, since with
    ``sequential_image_generation=auto`` the model decides how many images the prompt asks for."""
    return (
        f"{prompt.strip()}\n\nA storyboard of {frames} images: one per frame, in story order, "
        "with the same characters and style throughout."
    )


def parse_styles(text: str) -> dict[str, str]:
    """A styles file: ``name = "template"`` lines, or ``[name]`` tables with ``template``.

    Raises ``ValueError`` naming the style at fault.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML ({exc})") from None
    table = document.get("styles", document)
    if not isinstance(table, Mapping):
        raise ValueError("`styles` must be a table of name = template")
    styles: dict[str, str] = {}
    for raw_name, value in table.items():
        template = value.get("template") if isinstance(value, Mapping) else value
        if not isinstance(template, str):
            raise ValueError(f"style `{raw_name}` has no template string")
        try:
            styles[check_style_name(str(raw_name))] = check_template(template)
        except RequestValidationError as exc:
            raise ValueError(f"style `{raw_name}`: {exc.user_message}") from None
    return styles
