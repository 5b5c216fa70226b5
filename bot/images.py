"""Image bytes: sniffing the format, and fitting results under Discord's upload limit.

Everything here is pure and synchronous (bytes in, bytes out) so it can run in a worker
thread; the ``*_async`` wrappers do exactly that with :func:`asyncio.to_thread`, because
decoding and encoding a 4096×4096 image takes hundreds of milliseconds of CPU that must
never run on the event loop. Pillow releases the GIL while it decodes, resizes and
encodes, so the loop stays responsive meanwhile.

Untrusted bytes are checked in this order: magic bytes, then the dimensions read from
the header by our own small parser (so a decompression bomb is refused before Pillow
allocates anything, against an explicit ``max_pixels`` rather than the process-wide
``Image.MAX_IMAGE_PIXELS``, which we never modify), then a full decode.

The fitting ladder (:func:`fit_image`) is: the original bytes if they fit; else one
re-encode at high quality (JPEG, or WebP when the image really has transparency); else
lower qualities that could plausibly fit given the first encode's size; else downscales
whose factor is computed from the last measured size, so a typical photo needs one or
two full encodes. When Discord answers 413 to a file we thought fit, call
:func:`refit_smaller` with the refused result: it asks for at most 80 % of those bytes,
so every retry makes progress and the sequence ends (in :class:`ImageError` at worst).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from bot.errors import ImageError

ImageFormat = Literal["png", "jpeg", "webp"]

MIME_TYPES: dict[ImageFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


def sniff_image_type(data: bytes) -> ImageFormat | None:
    """The format from the magic bytes, or None when it is not PNG, JPEG or WebP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


#: Default pixel cap for decoding. 8192×8192 is twice Seedream's largest output in each
#: dimension, and stays below Pillow's own warning threshold (~89.5 MP) so Pillow never
#: warns about an image we accepted.
DEFAULT_MAX_PIXELS: Final = 8192 * 8192

#: Discord's per-message attachment count.
MAX_ATTACHMENTS_PER_MESSAGE: Final = 10

#: The smallest longest side the downscale ladder tries before giving up.
MIN_SIDE: Final = 16

#: After a 413 for a file our math said fits, ask for at most this share of its bytes.
REFIT_FACTOR: Final = 0.8

EXTENSIONS: dict[ImageFormat, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}

_PILLOW_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

#: Extra formats normalise_reference() converts (Discord members do upload these).
_CONVERTIBLE_FORMATS: Final = ("GIF", "BMP")

_QUALITIES: Final = (92, 85, 75)
_DOWNSCALE_QUALITY: Final = 85
#: Lowest plausible size of a quality rung relative to the first (q92) encode, measured
#: on photos, noise and line art. A rung is only tried when it could fit, which saves
#: full encodes; optimistic bounds mean we rarely skip a rung that would have fitted.
_MIN_RATIO: dict[ImageFormat, dict[int, float]] = {
    "jpeg": {85: 0.5, 75: 0.25},
    "webp": {85: 0.28, 75: 0.17},
    "png": {},
}
#: Aim this far under the limit when computing a downscale factor, so we rarely overshoot.
_DOWNSCALE_MARGIN: Final = 0.95
#: A downscale result under this share of the limit earns one retry at a larger scale.
_UNDERSHOOT: Final = 0.75
#: Each downscale step shrinks the scale by at least this factor, so the ladder ends.
_MAX_STEP: Final = 0.9
#: WebP "method" (0-6): 2 is as fast as 0 here and a little smaller; 4+ is 2-3× slower.
_WEBP_METHOD: Final = 2

_ORIENTATION_SWAPS: Final = frozenset({5, 6, 7, 8})
_JPEG_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_JPEG_STANDALONE_MARKERS: Final = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageInfo:
    """A validated image. ``width``/``height`` are as displayed (EXIF orientation applied)."""

    format: ImageFormat
    width: int
    height: int
    size_bytes: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


@dataclass(frozen=True)
class FittedImage:
    """Bytes ready to upload, with what was done to get them under the limit.

    ``rung`` is ``"original"`` (bytes untouched), ``"jpeg-q85"``/``"webp-q92"`` (re-encoded
    at full size) or ``"downscale-0.71-jpeg-q85"`` (pixel dimensions ×0.71, then encoded).
    """

    data: bytes
    filename: str
    format: ImageFormat
    width: int
    height: int
    rung: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


# --------------------------------------------------------------------------- validation


def _header_size(data: bytes, fmt: ImageFormat) -> tuple[int, int] | None:
    """Stored pixel dimensions from the header alone, or None when the header is broken.

    Why our own parser: it lets us refuse a bomb before Pillow allocates anything (its
    WebP opener allocates the whole canvas), against our explicit cap.
    """
    try:
        if fmt == "png":
            # IHDR must be the first chunk: length(4) type(4) width(4) height(4).
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if fmt == "webp":
            return _webp_size(data)
        return _jpeg_size(data)
    except (struct.error, IndexError):
        return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # frame tag(3), start code 9d 01 2a, then 14-bit width and height.
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        if len(data) < 30:
            return None
        # 24-bit little-endian canvas width-1 and height-1 after flags(1) + reserved(3).
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments up to the first SOFn; None if the scan starts first."""
    i = 2
    end = len(data)
    while i < end:
        if data[i] != 0xFF:
            return None
        while i < end and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= end:
            return None
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan without a frame header
            return None
        (length,) = struct.unpack(">H", data[i : i + 2])
        if marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return width, height
        i += length
    return None


def _too_large(label: str, width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"{label} is too large: {width}×{height} pixels "
        f"(at most {max_pixels / 1_000_000:.1f} megapixels)."
    )


def _open(
    data: bytes,
    *,
    max_pixels: int,
    label: str,
    load: bool,
    extra_formats: Sequence[str] = (),
) -> tuple[Image.Image, ImageFormat | None]:
    """Open (and with ``load`` fully decode) untrusted bytes, or raise a user-safe ImageError.

    The format is None for one of ``extra_formats`` (only normalise_reference uses them).
    """
    if not data:
        raise ImageError(f"{label} is empty.")
    fmt = sniff_image_type(data)
    if fmt is None and not extra_formats:
        raise ImageError(f"{label} is not a PNG, JPEG or WebP image.")
    if fmt is not None:
        size = _header_size(data, fmt)
        if size is None:
            raise ImageError(f"{label} is corrupt or truncated.")
        if size[0] * size[1] > max_pixels:
            raise _too_large(label, *size, max_pixels)
    formats = [_PILLOW_NAMES[fmt]] if fmt is not None else list(extra_formats)
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
        # Re-check with Pillow's idea of the size (and for the extra formats, the only check).
        if img.width * img.height > max_pixels:
            raise _too_large(label, img.width, img.height, max_pixels)
        if load:
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's process-wide guard (only reachable with max_pixels above its limit).
        raise ImageError(f"{label} is too large.") from exc
    except UnidentifiedImageError as exc:
        if fmt is None:
            *first, last = ["PNG", "JPEG", "WebP", *extra_formats]
            raise ImageError(f"{label} is not a {', '.join(first)} or {last} image.") from exc
        raise ImageError(f"{label} is corrupt or truncated.") from exc
    except Exception as exc:  # any failure decoding untrusted bytes means they're broken
        raise ImageError(f"{label} is corrupt or truncated.") from exc
    return img, fmt


def _display_size(img: Image.Image) -> tuple[int, int]:
    """Width and height as shown, i.e. swapped when EXIF says the image is rotated 90°."""
    # Only consult EXIF when the header carried it: PNG's getexif() would decode the image.
    if "exif" in img.info:
        try:
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        except Exception:  # corrupt EXIF: Pillow shows the image unrotated too
            orientation = 1
        if orientation in _ORIENTATION_SWAPS:
            return img.height, img.width
    return img.width, img.height


def inspect_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """Validate that ``data`` is a complete, decodable PNG, JPEG or WebP image.

    Fully decodes it (``verify()`` misses truncated JPEGs). Raises :class:`ImageError` whose
    message starts with ``label`` and says "is empty", "is not a PNG, JPEG or WebP image",
    "is corrupt or truncated" or "is too large: W×H pixels".
    """
    img, fmt = _open(data, max_pixels=max_pixels, label=label, load=True)
    assert fmt is not None  # no extra formats were allowed
    width, height = _display_size(img)
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=len(data))


async def inspect_image_async(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, label: str = "The image"
) -> ImageInfo:
    """:func:`inspect_image` in a worker thread."""
    return await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels, label=label)


# ------------------------------------------------------------------------------ fitting


def _safe_stem(stem: str) -> str:
    # Discord mangles odd names anyway; keep them portable and short.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return cleaned[:100] or "image"


def _flatten(img: Image.Image) -> Image.Image:
    """Composite an RGBA image onto white (JPEG has no alpha; black would be the default)."""
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def _prepare(img: Image.Image, *, allow_alpha: bool) -> tuple[Image.Image, bytes | None]:
    """Upright, in a mode JPEG/WebP can encode (L, RGB, or RGBA only if alpha is real).

    Also returns the ICC profile when it still describes the pixels (a CMYK or grey profile
    on RGB output would be wrong, so it is dropped then).
    """
    icc = img.info.get("icc_profile")
    original_mode = img.mode
    ImageOps.exif_transpose(img, in_place=True)  # we own img; avoids a 50 MB copy
    mode = img.mode
    if mode.startswith("I;16"):
        # 16-bit grey: scale to 8 bits (a plain convert would clip everything to white).
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in img.info
        img = img.convert("RGBA" if transparent else "RGB")
    elif mode in ("LA", "La", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in ("L", "RGB", "RGBA"):  # CMYK, YCbCr, I, F, ...
        img = img.convert("RGB")

    if img.mode == "RGBA":
        alpha_low, _ = img.getchannel("A").getextrema()
        if isinstance(alpha_low, (int, float)) and alpha_low >= 255:
            img = img.convert("RGB")  # RGBA but fully opaque: plain RGB encodes smaller
        elif not allow_alpha:
            img = _flatten(img)

    rgb = ("RGB", "RGBA")
    keeps_profile = (original_mode in rgb and img.mode in rgb) or original_mode == img.mode == "L"
    return img, (icc if keeps_profile and isinstance(icc, bytes) else None)


def _encode(img: Image.Image, fmt: ImageFormat, quality: int, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    extra: dict[str, object] = {"icc_profile": icc} if icc else {}
    if fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality, **extra)
    else:
        img.save(buf, "WEBP", quality=quality, method=_WEBP_METHOD, **extra)
    return buf.getvalue()


def _fit_prepared(
    img: Image.Image, icc: bytes | None, limit_bytes: int, *, stem: str, label: str
) -> FittedImage:
    """The re-encode ladder on a prepared image; always ≤ limit_bytes or ImageError."""
    fmt: ImageFormat = "webp" if img.mode == "RGBA" else "jpeg"
    filename = f"{stem}.{EXTENSIONS[fmt]}"

    def result(data: bytes, image: Image.Image, rung: str) -> FittedImage:
        return FittedImage(data, filename, fmt, image.width, image.height, rung)

    # Rung 1: full size, high quality. Its size tells us which later rungs can work.
    first_quality = _QUALITIES[0]
    out = _encode(img, fmt, first_quality, icc)
    if len(out) <= limit_bytes:
        return result(out, img, f"{fmt}-q{first_quality}")
    first_size = len(out)

    # Rung 2: lower qualities, only those that could plausibly fit.
    downscale_base: int | None = None  # measured size at the downscale quality
    for quality in _QUALITIES[1:]:
        if first_size * _MIN_RATIO[fmt][quality] > limit_bytes:
            continue
        out = _encode(img, fmt, quality, icc)
        if len(out) <= limit_bytes:
            return result(out, img, f"{fmt}-q{quality}")
        if quality == _DOWNSCALE_QUALITY:
            downscale_base = len(out)
    if downscale_base is None:  # not measured: assume its best case, never overshoot low
        downscale_base = max(1, int(first_size * _MIN_RATIO[fmt][_DOWNSCALE_QUALITY]))

    # Rung 3: downscale from the full-size image. Bytes scale about with pixel count, i.e.
    # with scale², so the last size predicts the factor (grain averages out when shrinking,
    # so this errs small). Each step is ≥10 % smaller and MIN_SIDE bounds the loop.
    def downscaled(scale: float) -> tuple[bytes, Image.Image]:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        small = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return _encode(small, fmt, _DOWNSCALE_QUALITY, icc), small

    def rung(scale: float) -> str:
        return f"downscale-{scale:.2f}-{fmt}-q{_DOWNSCALE_QUALITY}"

    target = limit_bytes * _DOWNSCALE_MARGIN
    prev_scale, prev_size = 1.0, downscale_base
    exponent = 2.0  # bytes ∝ scale**exponent; refined once two downscales are measured
    floor = min(1.0, MIN_SIDE / max(img.width, img.height))
    scale = 1.0
    while scale > floor:
        step = min(_MAX_STEP, (target / prev_size) ** (1 / exponent))
        scale = max(floor, scale * step)
        out, small = downscaled(scale)
        if len(out) > limit_bytes:
            if prev_scale < 1.0:
                # Headers dominate tiny images (bytes barely shrink): a low exponent makes
                # the next step jump, so a hopeless limit fails in a few encodes.
                measured = math.log(prev_size / len(out)) / math.log(prev_scale / scale)
                exponent = min(4.0, max(0.5, measured))
            prev_scale, prev_size = scale, len(out)
            continue
        if len(out) < limit_bytes * _UNDERSHOOT:
            # Far under: the bracketing pair gives this image's real exponent; one more
            # (smaller-than-full-size) encode buys back resolution we threw away.
            exponent = math.log(prev_size / len(out)) / math.log(prev_scale / scale)
            better = min(prev_scale * 0.98, scale * (target / len(out)) ** (1 / exponent))
            if better > scale * 1.05:
                retry, retry_small = downscaled(better)
                if len(retry) <= limit_bytes:
                    return result(retry, retry_small, rung(better))
        return result(out, small, rung(scale))
    raise ImageError(f"{label} cannot be made smaller than {limit_bytes:,} bytes.")


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
    img, fmt = _open(data, max_pixels=max_pixels, label=label, load=not fits)
    assert fmt is not None
    if fits:
        width, height = _display_size(img)
        return FittedImage(data, f"{stem}.{EXTENSIONS[fmt]}", fmt, width, height, "original")
    prepared, icc = _prepare(img, allow_alpha=True)
    return _fit_prepared(prepared, icc, limit_bytes, stem=stem, label=label)


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
        raise ImageError("The image cannot be made any smaller.")
    return fit_image(data, limit, filename_stem=filename_stem, max_pixels=max_pixels)


async def fit_image_async(
    data: bytes,
    limit_bytes: int,
    *,
    filename_stem: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    label: str = "The image",
) -> FittedImage:
    """:func:`fit_image` in a worker thread."""
    return await asyncio.to_thread(
        fit_image,
        data,
        limit_bytes,
        filename_stem=filename_stem,
        max_pixels=max_pixels,
        label=label,
    )


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


def _per_file_limit(limit_bytes: int, per_message_limit: int | None) -> int:
    if limit_bytes <= 0 or (per_message_limit is not None and per_message_limit <= 0):
        raise ValueError("limits must be positive")
    # One file alone in a message must also respect the message total.
    return limit_bytes if per_message_limit is None else min(limit_bytes, per_message_limit)


def _share_message_budget(
    images: Sequence[bytes],
    fitted: list[FittedImage],
    stems: Sequence[str],
    per_message_limit: int | None,
    max_pixels: int,
) -> list[FittedImage]:
    """Shrink files so each group of 10 (one message) totals ≤ per_message_limit.

    Water-filling: smallest first, each file may use an equal share of what is left, so only
    the files above their share are re-fitted and small ones keep their quality.
    """
    if per_message_limit is None:
        return fitted
    result = list(fitted)
    labels = _labels(len(images))
    for start in range(0, len(result), MAX_ATTACHMENTS_PER_MESSAGE):
        group = range(start, min(start + MAX_ATTACHMENTS_PER_MESSAGE, len(result)))
        if sum(result[i].size_bytes for i in group) <= per_message_limit:
            continue
        remaining, left = per_message_limit, len(group)
        for i in sorted(group, key=lambda i: result[i].size_bytes):
            share = remaining // left
            if result[i].size_bytes > share:
                result[i] = fit_image(
                    images[i],
                    share,
                    filename_stem=stems[i],
                    max_pixels=max_pixels,
                    label=labels[i],
                )
            remaining -= result[i].size_bytes
            left -= 1
    return result


def fit_images(
    images: Sequence[bytes],
    limit_bytes: int,
    *,
    per_message_limit: int | None = None,
    stem: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[FittedImage]:
    """:func:`fit_image` for each image; files are named ``stem`` or ``stem-1``, ``stem-2``….

    ``limit_bytes`` applies per file. With ``per_message_limit``, the files that will share a
    message (consecutive groups of 10, as :func:`batch_for_messages` makes them) are also
    shrunk to total at most that, so ``batch_for_messages(result,
    max_total_bytes=per_message_limit)`` keeps groups of 10.
    """
    per_file = _per_file_limit(limit_bytes, per_message_limit)
    stems = _stems(stem, len(images))
    labels = _labels(len(images))
    fitted = [
        fit_image(data, per_file, filename_stem=s, max_pixels=max_pixels, label=lbl)
        for data, s, lbl in zip(images, stems, labels, strict=True)
    ]
    return _share_message_budget(images, fitted, stems, per_message_limit, max_pixels)


async def fit_images_async(
    images: Sequence[bytes],
    limit_bytes: int,
    *,
    per_message_limit: int | None = None,
    stem: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[FittedImage]:
    """:func:`fit_images` with all CPU work in worker threads, up to one image per core."""
    per_file = _per_file_limit(limit_bytes, per_message_limit)
    stems = _stems(stem, len(images))
    labels = _labels(len(images))
    # Bounded: each 16 MP image in flight holds ~100 MB of decoded pixels.
    slots = asyncio.Semaphore(max(1, min(4, os.cpu_count() or 1)))

    async def one(data: bytes, file_stem: str, label: str) -> FittedImage:
        async with slots:
            return await asyncio.to_thread(
                fit_image,
                data,
                per_file,
                filename_stem=file_stem,
                max_pixels=max_pixels,
                label=label,
            )

    fitted = list(
        await asyncio.gather(
            *(one(d, s, lbl) for d, s, lbl in zip(images, stems, labels, strict=True))
        )
    )
    if per_message_limit is None:
        return fitted
    return await asyncio.to_thread(
        _share_message_budget, images, fitted, stems, per_message_limit, max_pixels
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


# -------------------------------------------------------------------- reference images


def normalise_reference(
    data: bytes,
    *,
    max_bytes: int,
    max_side: int = 4096,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    label: str = "The reference image",
) -> bytes:
    """A user upload made acceptable as an edit reference for a provider.

    Returns ``data`` unchanged when it is a valid PNG, JPEG or WebP of at most ``max_bytes``
    bytes and ``max_side`` pixels on its longest side. Otherwise (too big, or a GIF/BMP)
    re-encodes it as JPEG: upright per EXIF, alpha flattened onto white, downscaled to
    ``max_side``, then fitted under ``max_bytes``. Raises :class:`ImageError` for unusable
    bytes.
    """
    if max_bytes <= 0 or max_side <= 0:
        raise ValueError("limits must be positive")
    img, fmt = _open(
        data, max_pixels=max_pixels, label=label, load=True, extra_formats=_CONVERTIBLE_FORMATS
    )
    if fmt is not None and len(data) <= max_bytes and max(img.size) <= max_side:
        return data
    # Animated GIF/WebP/APNG: the first frame, which is what was loaded.
    prepared, icc = _prepare(img, allow_alpha=False)
    prepared.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _fit_prepared(prepared, icc, max_bytes, stem="reference", label=label).data


async def normalise_reference_async(
    data: bytes,
    *,
    max_bytes: int,
    max_side: int = 4096,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    label: str = "The reference image",
) -> bytes:
    """:func:`normalise_reference` in a worker thread."""
    return await asyncio.to_thread(
        normalise_reference,
        data,
        max_bytes=max_bytes,
        max_side=max_side,
        max_pixels=max_pixels,
        label=label,
    )
