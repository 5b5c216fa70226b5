"""Image bytes: sniffing the format, and fitting results under Discord's upload limit."""

from __future__ import annotations

from typing import Literal

ImageFormat = Literal["png", "jpeg", "webp"]

MIME_TYPES: dict[ImageFormat, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def sniff_image_type(data: bytes) -> ImageFormat | None:
    """The format from the magic bytes, or None when it is not PNG, JPEG or WebP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None
