"""Log lines about refused HTTP requests: sanitised, at most one per reason per interval.

Client-supplied text reaches a log line only through ``printable``. ``ProtocolLogger``
routes aiohttp's own reports of malformed requests through the same ``RefusalLog``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import http_exceptions

log = logging.getLogger(__name__)


def printable(value: str, limit: int = 80) -> str:
    """``value`` safe for one log line: control, format and separator characters escaped.

    CR/LF could forge log lines and ANSI escapes could rewrite a terminal, so everything
    ``str.isprintable`` rejects is written as its ``\\x..``/``\\u....`` escape; long input
    is cut at ``limit`` characters.
    """
    out: list[str] = []
    for char in value[:limit]:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    if len(value) > limit:
        out.append("…")
    return "".join(out)


@dataclass
class _Slot:
    at: float
    suppressed: int = 0


@dataclass
class RefusalLog:
    """Log lines about refused requests: sanitised, at most one per reason per ``interval``.

    A flood of bad requests costs one line per reason per interval; the next line says
    how many were left out, and ``flush`` reports what is still pending.
    """

    logger: logging.Logger = field(default_factory=lambda: log)
    interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    level: int = logging.INFO
    _slots: dict[str, _Slot] = field(default_factory=dict, repr=False)

    def refused(self, reason: str, message: str, *args: object) -> None:
        """Log ``message % args`` (args sanitised) unless ``reason`` was logged lately."""
        now = self.clock()
        slot = self._slots.get(reason)
        if slot is not None and now - slot.at < self.interval:
            slot.suppressed += 1
            return
        line = message % tuple(printable(str(arg)) for arg in args)
        if slot is not None and slot.suppressed:
            line += (
                f" ({slot.suppressed} more {reason} suppressed in the last {now - slot.at:.0f} s)"
            )
        self._slots[reason] = _Slot(at=now)
        self.logger.log(self.level, "%s", line)

    def flush(self) -> None:
        """Log the counts still suppressed (at shutdown)."""
        for reason, slot in self._slots.items():
            if slot.suppressed:
                self.logger.log(self.level, "%d more %s suppressed", slot.suppressed, reason)
                slot.suppressed = 0


class ProtocolLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's connection logger: a malformed request is one rate-limited refusal line.

    aiohttp logs every unparsable request at ERROR with a traceback, which lets anyone
    fill the log; our own handlers' errors still go through with their traceback.
    """

    def __init__(self, logger: logging.Logger, refusals: RefusalLog) -> None:
        super().__init__(logger, {})
        self._refusals = refusals

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, http_exceptions.HttpProcessingError):
            self._refusals.refused(
                "malformed requests",
                "refused a malformed HTTP request (%s: %s)",
                type(exc).__name__,
                " ".join(exc.message.split()),
            )
            return
        super().log(level, msg, *args, **kwargs)
