"""The limits of one HTTP listener: deadlines, sizes and the connection cap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    """Limits of one listener (tests shrink the times)."""

    #: the whole request (line, headers and body) must arrive within this many seconds of
    #: the connection opening, or of the previous response on a kept-alive connection
    request_timeout: float = 10.0
    #: an idle kept-alive connection is closed after this many seconds
    keepalive_timeout: float = 5.0
    #: open connections; past it the oldest one still waiting for its request is dropped
    max_connections: int = 512
    backlog: int = 128
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64
    #: seconds spent draining an unread request body after the response; a body read
    #: stops this much before the deadline so that the 408 and the close fit within it
    lingering_time: float = 0.5
    #: seconds in-flight handlers get when the server stops
    shutdown_timeout: float = 3.0


DEFAULT_LIMITS = HttpLimits()
