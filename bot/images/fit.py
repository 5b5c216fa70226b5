"""Fitting result images under Discord's upload limit, and batching them into messages.

Pure and synchronous (bytes in, bytes out) so it runs in a worker thread; the ``*_async``
wrappers do exactly that with :func:`asyncio.to_thread`. Pillow releases the GIL while it
decodes, resizes and encodes, so the event loop stays responsive meanwhile.

:func:`fit_image` returns the original bytes if they fit, else climbs the re-encode ladder
of ``bot.images.encode_ladder`` (higher qualities first, then computed downscales).
When Discord answers 413 to a file we thought fit, call :func:`refit_smaller` with the
refused result: it asks for at most 80 % of those bytes, so every retry makes progress and
the sequence ends (in :class:`ImageError` at worst).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from typing import Final

from bot.core.errors import ImageError
from bot.core.localizable import N_
from bot.images.encode_ladder import MIN_SIDE, FittedImage, fit_prepared, prepare
from bot.images.headers import DEFAULT_MAX_PIXELS, EXTENSIONS
from bot.images.validate import display_size, open_image

__all__ = [
    "MAX_ATTACHMENTS_PER_MESSAGE",
    "MIN_SIDE",
    "REFIT_FACTOR",
    "FittedImage",
    "batch_for_messages",
    "fit_image",
    "fit_images_async",
    "refit_smaller",
    "refit_smaller_async",
]

#: Discord's per-message attachment count.
MAX_ATTACHMENTS_PER_MESSAGE: Final = 10

#: After a 413 for a file our math said fits, ask for at most this share of its bytes.
REFIT_FACTOR: Final = 0.8


def _safe_stem(stem: str) -> str:
    # Discord mangles odd names anyway; keep them portable and short.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return cleaned[:100] or "image"


def fit_image(
    data: bytes,
    limit_bytes: int,
    *,
    filename_stem: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    label: str = "The image",
) -> FittedImage:
    """Return ``data`` as a file of at most ``limit_bytes`` bytes, changing as little as possible.

    ``limit_bytes`` is the per-file limit (``Interaction.filesize_limit``, or
    ``Guild.filesize_limit``). The original bytes come back untouched when they fit (they are
    only header-checked then; use :func:`inspect_image` to validate fully). Otherwise the image
    is decoded, turned upright per EXIF and re-encoded without metadata (the ICC profile is
    kept): JPEG, or WebP when it has real transparency; alpha is flattened onto white for JPEG.

    Raises :class:`ImageError` if the bytes are not a usable image, or if even a
    ``MIN_SIDE``-pixel thumbnail does not fit (e.g. a limit of 100 bytes).
    """
    if limit_bytes <= 0:
        raise ValueError("limit_bytes must be positive")
    stem = _safe_stem(filename_stem)
    fits = len(data) <= limit_bytes
    img, fmt = open_image(data, max_pixels=max_pixels, label=label, load=not fits)
    assert fmt is not None
    if fits:
        width, height = display_size(img)
        return FittedImage(data, f"{stem}.{EXTENSIONS[fmt]}", fmt, width, height, "original")
    prepared, icc = prepare(img, allow_alpha=True)
    return fit_prepared(prepared, icc, limit_bytes, stem=stem, label=label)


def refit_smaller(
    data: bytes,
    rejected: FittedImage,
    *,
    filename_stem: str,
    factor: float = REFIT_FACTOR,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FittedImage:
    """The next rung after Discord refused ``rejected`` (HTTP 413) though our math said it fit.

    ``data`` is the original image that ``rejected`` was fitted from. The new budget is
    ``factor`` × the refused size, so the result is strictly smaller, repeated calls shrink
    geometrically and end in :class:`ImageError` at worst.
    """
    if not 0 < factor < 1:
        raise ValueError("factor must be between 0 and 1")
    limit = int(rejected.size_bytes * factor)
    if limit <= 0:
        raise ImageError(N_("The image cannot be made any smaller."))
    return fit_image(data, limit, filename_stem=filename_stem, max_pixels=max_pixels)


async def refit_smaller_async(
    data: bytes,
    rejected: FittedImage,
    *,
    filename_stem: str,
    factor: float = REFIT_FACTOR,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> FittedImage:
    """:func:`refit_smaller` in a worker thread."""
    return await asyncio.to_thread(
        refit_smaller,
        data,
        rejected,
        filename_stem=filename_stem,
        factor=factor,
        max_pixels=max_pixels,
    )


def _stems(stem: str, count: int) -> list[str]:
    return [stem] if count == 1 else [f"{stem}-{i}" for i in range(1, count + 1)]


def _labels(count: int) -> list[str]:
    return ["The image"] if count == 1 else [f"Image {i}" for i in range(1, count + 1)]


async def fit_images_async(
    images: Sequence[bytes],
    limit_bytes: int,
    *,
    stem: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[FittedImage]:
    """:func:`fit_image` for each image, each under ``limit_bytes``, in worker threads (up to
    one image per core); files are named ``stem`` or ``stem-1``, ``stem-2``…."""
    if limit_bytes <= 0:
        raise ValueError("limits must be positive")
    stems = _stems(stem, len(images))
    labels = _labels(len(images))
    # Bounded: each 16 MP image in flight holds ~100 MB of decoded pixels.
    slots = asyncio.Semaphore(max(1, min(4, os.cpu_count() or 1)))

    async def one(data: bytes, file_stem: str, label: str) -> FittedImage:
        async with slots:
            return await asyncio.to_thread(
                fit_image,
                data,
                limit_bytes,
                filename_stem=file_stem,
                max_pixels=max_pixels,
                label=label,
            )

    return list(
        await asyncio.gather(
            *(one(d, s, lbl) for d, s, lbl in zip(images, stems, labels, strict=True))
        )
    )


def batch_for_messages(
    files: Sequence[FittedImage],
    max_per_message: int = MAX_ATTACHMENTS_PER_MESSAGE,
    max_total_bytes: int | None = None,
) -> list[list[FittedImage]]:
    """Split files, in order, into message-sized groups (greedy: fill each message first).

    Raises ValueError if one file alone exceeds ``max_total_bytes`` (fit it first).
    """
    if max_per_message < 1:
        raise ValueError("max_per_message must be at least 1")
    batches: list[list[FittedImage]] = []
    current: list[FittedImage] = []
    current_bytes = 0
    for file in files:
        if max_total_bytes is not None and file.size_bytes > max_total_bytes:
            raise ValueError(f"{file.filename} alone exceeds {max_total_bytes} bytes")
        full = len(current) >= max_per_message or (
            max_total_bytes is not None and current_bytes + file.size_bytes > max_total_bytes
        )
        if current and full:
            batches.append(current)
            current, current_bytes = [], 0
        current.append(file)
        current_bytes += file.size_bytes
    if current:
        batches.append(current)
    return batches
