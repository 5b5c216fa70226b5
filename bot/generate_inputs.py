"""What ``seedream-bot generate`` is asked: the request, its ``--image`` values, its providers."""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.asked import apply_style, storyboard_prompt
from bot.core.errors import (
    ConfigError,
    ImageError,
    RequestValidationError,
)
from bot.core.request import GenerationRequest
from bot.core.shapes import parse_size
from bot.images.validate import ImageInfo, inspect_image_async
from bot.providers import PROVIDER_TYPES
from bot.providers.base import ProviderConfig

#: providers whose API takes a reference image inline, as a ``data:`` URL: only Ark documents
#: it (PROVIDERS.md §6.2); PoYo, Vidgo, Pixazo, Apikley and APIYI take URLs only (§1-5)
INLINE_IMAGE_PROVIDERS = frozenset({"ark"})
#: Ark's limits on an input image (PROVIDERS.md §6.2)
MAX_INLINE_BYTES = 10 * 2**20
MAX_INLINE_PIXELS = 6000 * 6000


@dataclass(frozen=True)
class References:
    """``--image`` values as sent, and what is known of them (local files only)."""

    urls: tuple[str, ...] = ()
    #: the format of each, where read (a URL is not fetched before the provider does)
    formats: tuple[str, ...] = ()
    #: the first reference's displayed size, when it is a local file
    first_size: tuple[int, int] | None = None


def build_request(
    args: argparse.Namespace, references: References | None = None
) -> GenerationRequest:
    """The request from the options and the resolved ``--image`` values (``load_references``);
    malformed values raise RequestValidationError (the same parser as ``/imagine size:``)."""
    refs = references or References()
    width, height = parse_size(args.size) if args.size is not None else (None, None)
    guided = bool(getattr(args, "guide", False)) and bool(refs.urls)
    return GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        aspect_ratio=args.ratio.strip() if args.ratio else None,
        resolution=args.resolution.upper() if args.resolution else None,
        width=width,
        height=height,
        count=args.count,
        seed=args.seed,
        guidance_scale=getattr(args, "guidance", None),
        reference_images=refs.urls,
        reference_formats=refs.formats if len(refs.formats) == len(refs.urls) else (),
        guided=guided,
        # an edit keeps its source's shape, as in Discord
        source_size=None if guided else refs.first_size,
    )


def with_options(
    request: GenerationRequest,
    args: argparse.Namespace,
    styles: Mapping[str, str],
    *,
    max_frames: int = 15,
) -> GenerationRequest:
    """Issue 15's options on top of the request: ``--style``, ``--enhance``, ``--format``
    and ``--frames`` (a storyboard); malformed values raise RequestValidationError."""
    update: dict[str, object] = {}
    style = getattr(args, "style", None)
    frames = getattr(args, "frames", None)
    if (style is not None or frames is not None) and not request.prompt:
        raise RequestValidationError("prompt", "must not be empty.")
    if style is not None:
        key = style.strip().lower()
        if key not in styles:
            raise RequestValidationError("style", f"there is no style `{style}`.", sorted(styles))
        update.update(
            prompt=apply_style(styles[key], request.prompt),
            member_prompt=request.prompt,
            style=key,
        )
    if getattr(args, "enhance", None) is not None:
        update["enhance"] = args.enhance
    if getattr(args, "format", None) is not None:
        update["output_format"] = args.format.strip().lower()
    if frames is not None:
        if args.count != 1:
            raise RequestValidationError("frames", "give --frames or --count, not both.")
        if not 2 <= frames <= max_frames:
            raise RequestValidationError("frames", f"must be between 2 and {max_frames}.")
        prompt = str(update.get("prompt", request.prompt))
        update.update(
            sequential=True,
            count=frames,
            prompt=storyboard_prompt(prompt, frames),
            member_prompt=request.prompt,
        )
    return request.model_copy(update=update) if update else request


async def load_references(
    values: Sequence[str], config: ProviderConfig, configs: Sequence[ProviderConfig] = ()
) -> References:
    """``--image`` values as the provider takes them: URLs as given, local files inline.

    A local file is read and validated (PNG, JPEG or WebP, within Ark's size limits) and sent
    as a ``data:`` URL, where the provider accepts one; elsewhere it is refused, saying that
    the provider needs a URL. Raises RequestValidationError; nothing is sent.
    """
    display = PROVIDER_TYPES[config.name].display_name
    inline = config.name in INLINE_IMAGE_PROVIDERS
    references: list[str] = []
    infos: list[ImageInfo] = []
    first_size: tuple[int, int] | None = None
    for value in values:
        if value.startswith(("http://", "https://")) or (
            inline and value.startswith("data:image/")
        ):
            references.append(value)
        elif value.startswith("data:"):
            raise RequestValidationError(
                "image", f"{display} takes reference images as http(s) URLs, not data: URLs."
            )
        elif "://" in value:
            raise RequestValidationError("image", f"'{value}' is not an http(s) URL.")
        elif not inline:
            raise RequestValidationError("image", _needs_url(display, value, configs))
        else:
            url, info = await inline_image(value)
            references.append(url)
            infos.append(info)
            if len(references) == 1:
                first_size = (info.width, info.height)
    formats = tuple(info.format for info in infos)
    return References(tuple(references), formats, first_size)


def _needs_url(display: str, value: str, configs: Sequence[ProviderConfig]) -> str:
    others = [c.name for c in configs if c.name in INLINE_IMAGE_PROVIDERS]
    where = (
        f"or use --provider {others[0]}"
        if others
        else f"local files work with {', '.join(sorted(INLINE_IMAGE_PROVIDERS))} only"
    )
    return (
        f"{display} needs reference images as http(s) URLs, so the local file '{value}' "
        f"cannot be sent; upload it and pass its URL ({where})."
    )


async def inline_image(value: str) -> tuple[str, ImageInfo]:
    """The local image file ``value`` as a ``data:`` URL, validated like a member's upload
    (off the event loop), and what it is."""
    data = await asyncio.to_thread(_read_image_file, value)
    try:
        info = await inspect_image_async(data, max_pixels=MAX_INLINE_PIXELS, label=f"'{value}'")
    except ImageError as exc:
        raise RequestValidationError("image", exc.user_message) from None
    return f"data:{info.mime_type};base64,{base64.b64encode(data).decode('ascii')}", info


def _read_image_file(value: str) -> bytes:
    path = Path(value).expanduser()
    try:
        if path.is_dir():
            raise RequestValidationError("image", f"'{value}' is a directory, not an image file.")
        size = path.stat().st_size
        if size > MAX_INLINE_BYTES:
            raise RequestValidationError(
                "image", f"'{value}' is {size / 2**20:.1f} MiB; at most 10 MiB can be sent."
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise RequestValidationError(
            "image", f"'{value}' is neither an http(s) URL nor an existing file."
        ) from None
    except OSError as exc:
        raise RequestValidationError(
            "image", f"cannot read '{value}': {exc.strerror or exc}."
        ) from None


def choose_provider(configs: list[ProviderConfig], wanted: str | None) -> ProviderConfig:
    """The ``--provider`` the user named (a usage error if unknown), else the first one."""
    if not configs:
        keys = ", ".join(f"{name.upper()}_API_KEY" for name in PROVIDER_TYPES)
        raise ConfigError("no provider is configured", f"set one of {keys}")
    if wanted is None:
        return configs[0]
    name = wanted.strip().lower()
    for config in configs:
        if config.name == name:
            return config
    if name not in PROVIDER_TYPES:
        raise RequestValidationError(
            "provider", f"'{wanted}' is not a known provider.", tuple(PROVIDER_TYPES)
        )
    raise RequestValidationError(
        "provider",
        f"'{name}' is not configured (set {name.upper()}_API_KEY).",
        tuple(c.name for c in configs),
    )


def failover_chain(
    chosen: ProviderConfig,
    configs: Sequence[ProviderConfig],
    *,
    pinned: bool,
    inline: bool = False,
) -> list[ProviderConfig]:
    """The providers a run may use, in the bot's failover order.

    ``--provider`` pins the run to that one provider; otherwise every configured provider
    is a candidate, as for the bot. Reference images sent inline (``data:`` URLs) only go to
    providers that take them.
    """
    if pinned:
        return [chosen]
    return [c for c in configs if not inline or c.name in INLINE_IMAGE_PROVIDERS]
