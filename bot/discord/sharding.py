"""The gateway as the bot's processes share it: which shards this one runs, and what
``GET /gateway/bot`` tells them (the gateway URL, the IDENTIFY buckets)."""

from __future__ import annotations

from typing import Any

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient


def shard_options(shard_ids: tuple[int, ...] | None, shard_count: int | None) -> dict[str, Any]:
    """discord.py's ``shard_ids``/``shard_count``, only when set (unset: it asks Discord)."""
    options: dict[str, Any] = {}
    if shard_count is not None:
        options["shard_count"] = shard_count
    if shard_ids is not None:
        options["shard_ids"] = list(shard_ids)
    return options


async def discover_gateway(http: HTTPClient, *, pin: bool) -> int:
    """Ask ``GET /gateway/bot``; returns ``max_concurrency``, the IDENTIFY buckets.

    ``pin``: behind a custom ``DISCORD_API_BASE``, reconnect to the gateway it names.
    discord.py falls back to Discord's own gateway after a session it cannot resume (and
    with ``SHARD_COUNT`` set it never asks), so the discovered URL keeps every connection
    on the configured endpoint.
    """
    _, url, limits = await http.get_bot_gateway()
    if pin:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return max(1, int(limits.get("max_concurrency", 1)))


def identify_bucket(shard_id: int | None, max_concurrency: int) -> int:
    """Discord's rate-limit bucket of a shard's IDENTIFY."""
    return (shard_id or 0) % max_concurrency
