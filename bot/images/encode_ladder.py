"""Re-encoding one decoded image until it fits a byte limit: the quality and downscale ladder.

The ladder is: one re-encode at high quality (JPEG, or WebP when the image really has
transparency); else lower qualities that could plausibly fit given the first encode's size;
else downscales whose factor is computed from the last measured size, so a typical photo
needs one or two full encodes. Pure and synchronous: callers run it in a worker thread.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps

from bot.core.errors import ImageError
from bot.core.localizable import N_
from bot.images.headers import EXTENSIONS, MIME_TYPES, ImageFormat

#: The smallest longest side the downscale ladder tries before giving up.
MIN_SIDE: Final = 16

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


def _flatten(img: Image.Image) -> Image.Image:
    """Composite an RGBA image onto white (JPEG has no alpha; black would be the default)."""
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def prepare(img: Image.Image, *, allow_alpha: bool) -> tuple[Image.Image, bytes | None]:
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


def fit_prepared(
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
    raise ImageError(
        N_("{label} cannot be made smaller than {limit} bytes."), label=label, limit=limit_bytes
    )
