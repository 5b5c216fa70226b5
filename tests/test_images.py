"""bot.images (validate, fit): sniffing, validation, fitting under the upload limit, batching.

Every image is generated here with Pillow; there are no fixture files.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageStat

from bot.core.errors import ImageError
from bot.images import fit
from bot.images.fit import (
    FittedImage,
    batch_for_messages,
    fit_image,
    fit_images_async,
    refit_smaller,
)
from bot.images.validate import (
    ImageInfo,
    inspect_image,
    inspect_image_async,
    sniff_image_type,
)

# ------------------------------------------------------------------------------ helpers


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Incompressible content: random bytes."""
    channels = len(mode)
    return Image.frombytes(mode, (width, height), os.urandom(width * height * channels))


def photo(side: int) -> Image.Image:
    """Gradients plus grain: compresses like a photo (PNG big, JPEG much smaller)."""
    ramp = Image.linear_gradient("L").resize((side, side))
    base = Image.merge("RGB", (ramp, ramp.rotate(90), ramp.rotate(180)))
    grain = Image.effect_noise((side, side), 30)
    return Image.blend(base, Image.merge("RGB", (grain, grain, grain)), 0.25)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header for a huge image with (almost) no pixel data: a bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def fitted(name: str, size: int) -> FittedImage:
    return FittedImage(b"x" * size, f"{name}.png", "png", 1, 1, "original")


SMALL = Image.new("RGB", (64, 48), (200, 30, 30))


# ----------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(SMALL, "PNG"), "png"),
        (encode(SMALL, "JPEG"), "jpeg"),
        (encode(SMALL, "WEBP"), "webp"),
        (encode(SMALL, "GIF"), None),
        (b"", None),
        (b"hello, world", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"\x89PNG", None),
    ],
    ids=["png", "jpeg", "webp", "gif", "empty", "text", "wav", "short-png"],
)
def test_sniff_image_type(data: bytes, expected: str | None) -> None:
    assert sniff_image_type(data) == expected


# --------------------------------------------------------------------------- inspecting


@pytest.mark.parametrize(
    ("fmt", "mode", "params", "expected"),
    [
        ("PNG", "RGB", {}, "png"),
        ("PNG", "RGBA", {}, "png"),
        ("JPEG", "RGB", {}, "jpeg"),
        ("JPEG", "RGB", {"progressive": True}, "jpeg"),
        ("WEBP", "RGB", {}, "webp"),  # VP8
        ("WEBP", "RGB", {"lossless": True}, "webp"),  # VP8L
        ("WEBP", "RGBA", {}, "webp"),  # VP8X
    ],
)
def test_inspect_valid(fmt: str, mode: str, params: dict[str, object], expected: str) -> None:
    data = encode(Image.new(mode, (123, 45), "navy"), fmt, **params)
    info = inspect_image(data)
    assert info == ImageInfo(format=expected, width=123, height=45, size_bytes=len(data))  # type: ignore[arg-type]
    assert info.mime_type == f"image/{expected}"


def test_inspect_reports_displayed_size_of_exif_rotated_jpeg() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored landscape, shown portrait
    data = encode(Image.new("RGB", (40, 20)), "JPEG", exif=exif)
    info = inspect_image(data)
    assert (info.width, info.height) == (20, 40)


def test_inspect_empty() -> None:
    with pytest.raises(ImageError, match="is empty"):
        inspect_image(b"")


@pytest.mark.parametrize(
    "data",
    [b"just some text, not an image", encode(SMALL, "GIF"), encode(SMALL, "BMP")],
    ids=["text", "gif", "bmp"],
)
def test_inspect_not_an_image(data: bytes) -> None:
    with pytest.raises(ImageError, match="is not a PNG, JPEG or WebP image"):
        inspect_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_inspect_truncated(fmt: str, keep: float) -> None:
    data = encode(noise(96, 96), fmt)
    with pytest.raises(ImageError, match="is corrupt or truncated"):
        inspect_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_inspect_magic_bytes_then_garbage(fmt: str) -> None:
    magic = encode(SMALL, fmt)[:8]
    with pytest.raises(ImageError, match="is corrupt or truncated"):
        inspect_image(magic + os.urandom(2000))


def test_inspect_corrupt_png_body() -> None:
    data = bytearray(encode(noise(64, 64), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroed bytes inside the IDAT stream
    with pytest.raises(ImageError, match="is corrupt or truncated"):
        inspect_image(bytes(data))


def test_inspect_refuses_a_png_bomb_before_decoding() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="is too large: 100000×100000 pixels"):
        inspect_image(png_claiming(100_000, 100_000))
    assert before == Image.MAX_IMAGE_PIXELS  # the process-wide guard is left alone


def test_inspect_pillow_guard_still_applies_above_our_cap() -> None:
    with pytest.raises(ImageError, match="is too large"):
        inspect_image(png_claiming(100_000, 100_000), max_pixels=10**12)


def test_inspect_refuses_a_jpeg_bomb() -> None:
    data = bytearray(encode(SMALL, "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    with pytest.raises(ImageError, match="is too large: 60000×60000 pixels"):
        inspect_image(bytes(data))


def test_inspect_honours_a_low_max_pixels() -> None:
    data = encode(Image.new("RGB", (200, 100)), "WEBP")
    assert inspect_image(data, max_pixels=20_000).width == 200
    with pytest.raises(ImageError, match="is too large: 200×100 pixels"):
        inspect_image(data, max_pixels=19_999)


def test_inspect_message_uses_the_label() -> None:
    with pytest.raises(ImageError) as caught:
        inspect_image(b"nope", label="Attachment 2")
    assert caught.value.user_message == "Attachment 2 is not a PNG, JPEG or WebP image."


async def test_inspect_image_async() -> None:
    info = await inspect_image_async(encode(SMALL, "PNG"))
    assert (info.format, info.width, info.height) == ("png", 64, 48)


# ------------------------------------------------------------------------------ fitting


def test_fit_untouched_when_it_fits() -> None:
    data = encode(SMALL, "PNG")
    result = fit_image(data, len(data), filename_stem="cat")
    assert result.data is data
    assert result == FittedImage(data, "cat.png", "png", 64, 48, "original")


def test_fit_reencodes_a_png_that_is_too_big() -> None:
    data = encode(photo(512), "PNG")
    limit = len(data) // 3
    result = fit_image(data, limit, filename_stem="out")
    assert result.size_bytes <= limit
    assert result.rung.startswith("jpeg-q")
    assert (result.format, result.filename) == ("jpeg", "out.jpg")
    assert decode(result.data).size == (512, 512) == (result.width, result.height)


def test_fit_downscales_incompressible_noise() -> None:
    data = encode(noise(512, 384), "PNG")
    limit = 60_000  # even q75 of 512×384 noise is far bigger
    result = fit_image(data, limit, filename_stem="noise")
    assert result.size_bytes <= limit
    assert result.rung.startswith("downscale-")
    shown = decode(result.data)
    assert shown.size == (result.width, result.height)
    assert result.width < 512
    assert abs(result.width / result.height - 512 / 384) < 0.02  # aspect kept
    assert result.size_bytes > limit // 3  # the factor was estimated, not overshot wildly


def test_fit_keeps_real_transparency_as_webp() -> None:
    img = noise(256, 256, "RGBA")
    data = encode(img, "PNG")
    result = fit_image(data, len(data) // 2, filename_stem="t")
    assert (result.format, result.filename) == ("webp", "t.webp")
    assert decode(result.data).mode == "RGBA"


def test_fit_opaque_rgba_becomes_jpeg() -> None:
    img = photo(256).convert("RGBA")  # alpha channel present but all 255
    data = encode(img, "PNG")
    result = fit_image(data, len(data) // 2, filename_stem="o")
    assert result.format == "jpeg"
    assert decode(result.data).mode == "RGB"


def test_fit_palette_png() -> None:
    img = photo(256).quantize(64)
    data = encode(img, "PNG")
    result = fit_image(data, len(data) // 2, filename_stem="p")
    assert result.size_bytes <= len(data) // 2
    assert decode(result.data).mode == "RGB"


def test_fit_applies_exif_orientation() -> None:
    stored = Image.new("RGB", (60, 30), (255, 0, 0))
    stored.paste((0, 0, 255), (30, 0, 60, 30))  # left red, right blue
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown rotated 90° clockwise: red on top
    data = encode(stored, "JPEG", quality=100, exif=exif)
    result = fit_image(data, len(data) - 1, filename_stem="r")
    assert result.rung != "original"
    shown = decode(result.data)
    assert shown.size == (30, 60) == (result.width, result.height)
    top = shown.getpixel((15, 5))
    bottom = shown.getpixel((15, 55))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert (top[0] > 200, top[2] < 60) == (True, True)  # red
    assert (bottom[2] > 200, bottom[0] < 60) == (True, True)  # blue
    # No orientation tag left to rotate it a second time.
    assert shown.getexif().get(ExifTags.Base.Orientation, 1) == 1


def test_fit_16_bit_grey_is_scaled_not_clipped() -> None:
    img = Image.frombytes("I;16", (64, 64), os.urandom(64 * 64 * 2))  # mean ≈ 32768
    data = encode(img, "PNG")
    result = fit_image(data, len(data) - 1, filename_stem="g")
    shown = decode(result.data)
    assert shown.mode == "L"
    assert 110 <= ImageStat.Stat(shown).mean[0] <= 146  # mid grey, not clipped to white


def test_fit_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(photo(128).convert("CMYK"), "JPEG", quality=100)
    result = fit_image(data, len(data) - 1, filename_stem="c")
    assert decode(result.data).mode == "RGB"


def test_fit_tiny_limit_raises() -> None:
    data = encode(photo(128), "PNG")
    with pytest.raises(ImageError, match="cannot be made smaller than 100 bytes"):
        fit_image(data, 100, filename_stem="x")


def test_fit_rejects_non_images_and_bad_limits() -> None:
    with pytest.raises(ImageError, match="is not a PNG, JPEG or WebP image"):
        fit_image(b"<html>502 Bad Gateway</html>", 10, filename_stem="x")
    with pytest.raises(ValueError, match="positive"):
        fit_image(encode(SMALL, "PNG"), 0, filename_stem="x")


def test_fit_sanitises_the_filename_stem() -> None:
    data = encode(SMALL, "PNG")
    assert fit_image(data, len(data), filename_stem="../a b/c").filename == "a_b_c.png"
    assert fit_image(data, len(data), filename_stem="///").filename == "image.png"


def test_refit_smaller_after_a_413_always_progresses() -> None:
    data = encode(photo(256), "PNG")
    result = fit_image(data, len(data), filename_stem="s")
    assert result.rung == "original"
    sizes = [result.size_bytes]
    final: ImageError | None = None
    for _ in range(100):  # 0.8^n: ends well before this bound
        try:
            result = refit_smaller(data, result, filename_stem="s")
        except ImageError as exc:
            final = exc
            break
        assert result.rung != "original"
        assert result.size_bytes <= int(sizes[-1] * 0.8)
        sizes.append(result.size_bytes)
    assert final is not None  # it ends in an error, never loops forever
    assert len(sizes) > 3


NOISE_PNG = encode(noise(96, 80), "PNG")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=40_000))
def test_fit_always_terminates_within_the_limit(limit: int) -> None:
    if limit < 600:  # below even a flat 16-pixel JPEG (~630 bytes): impossible, and said so
        with pytest.raises(ImageError, match="cannot be made smaller"):
            fit_image(NOISE_PNG, limit, filename_stem="h")
        return
    try:
        result = fit_image(NOISE_PNG, limit, filename_stem="h")
    except ImageError:
        if limit >= 2000:  # only tiny limits may be impossible
            raise
        return
    assert result.size_bytes <= limit
    assert decode(result.data).size == (result.width, result.height)


# ------------------------------------------------------------------ several + batching


async def test_fit_images_async_names_and_limits() -> None:
    small = encode(SMALL, "PNG")
    big = encode(photo(256), "PNG")
    limit = len(big) // 2
    result = await fit_images_async([small, big], limit, stem="job42")
    assert [f.filename for f in result] == ["job42-1.png", "job42-2.jpg"]
    assert result[0].data is small
    assert all(f.size_bytes <= limit for f in result)
    assert [f.filename for f in await fit_images_async([small], limit, stem="one")] == ["one.png"]
    assert await fit_images_async([], limit, stem="none") == []
    with pytest.raises(ValueError, match="positive"):
        await fit_images_async([small], 0, stem="zero")


def test_batch_23_files_into_10_10_3() -> None:
    files = [fitted(f"f{i}", 10) for i in range(23)]
    batches = batch_for_messages(files)
    assert [len(b) for b in batches] == [10, 10, 3]
    assert [f for b in batches for f in b] == files  # order kept


def test_batch_by_total_bytes() -> None:
    files = [fitted(str(i), size) for i, size in enumerate([60, 50, 40, 10, 90, 5])]
    batches = batch_for_messages(files, max_per_message=3, max_total_bytes=100)
    assert [[f.size_bytes for f in b] for b in batches] == [[60], [50, 40, 10], [90, 5]]
    assert batch_for_messages([]) == []
    with pytest.raises(ValueError, match="alone exceeds"):
        batch_for_messages([fitted("huge", 101)], max_total_bytes=100)
    with pytest.raises(ValueError, match="at least 1"):
        batch_for_messages(files, max_per_message=0)


# ---------------------------------------------------------------------------- async


async def test_fit_images_async_runs_in_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real: Callable[..., FittedImage] = fit.fit_image

    def spy(*args: object, **kwargs: object) -> FittedImage:
        seen.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(fit, "fit_image", spy)
    data = encode(photo(128), "PNG")
    result = await fit_images_async([data, data], len(data) // 2, stem="a")
    assert [f.filename for f in result] == ["a-1.jpg", "a-2.jpg"]
    assert len(seen) == 2
    assert loop_thread not in seen


async def test_event_loop_stays_responsive_while_fitting_a_big_image() -> None:
    # The one large test: ~12 MB of incompressible pixels, decoded, re-encoded, downscaled.
    data = encode(noise(2048, 2048), "PNG", compress_level=1)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = time.perf_counter()
    [result] = await fit_images_async([data], 2 * 1024 * 1024, stem="big")
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    assert result.size_bytes <= 2 * 1024 * 1024
    assert result.rung.startswith("downscale-")
    # Had the work run on the loop, the ticker could not have ticked at all meanwhile.
    assert elapsed > 0.05
    assert ticks >= 5
