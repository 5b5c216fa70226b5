"""Reading fields of provider answers defensively: wrong types and odd numbers are not ours.

Each helper returns None (or raises a provider-fault error) for a value of the wrong shape,
so an adapter never turns a provider's malformed answer into a TypeError or a bogus task id.
"""

from __future__ import annotations

import math
import re
from typing import Any

from bot.errors import ProviderError, ProviderUnavailableError
from bot.providers.http import as_dict, body_code_and_message, error_from_status, safe_text
from bot.providers.transport import Endpoint

#: longer than any provider's task id we know of by far
MAX_TASK_ID = 256
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]+")


def task_id_of(value: object) -> str | None:
    """A task id: a short printable string, as every provider documents; else None."""
    if isinstance(value, str):
        value = value.strip()
        if 0 < len(value) <= MAX_TASK_ID and _PRINTABLE_ID.fullmatch(value):
            return value
    return None


def percent(value: object) -> int | None:
    """A progress number clamped to 0-100; None for anything else (NaN, infinity, text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(max(0.0, min(100.0, float(value))))


def text_of(value: object) -> str | None:
    """A non-empty string field, or None."""
    return value if isinstance(value, str) and value.strip() else None


def error_in_body(answer: Any, endpoint: Endpoint) -> ProviderError | None:
    """The error a 2xx answer carries at its top level (``{"error": ...}``), classified.

    The envelope's ``code`` gives the status when it is an HTTP error code; otherwise the
    words decide (content filter, credits, model not offered) and the rest is a provider fault.
    """
    body = as_dict(answer)
    error = body.get("error")
    if not ((isinstance(error, dict) and error) or text_of(error)):
        return None
    code = body.get("code")
    status = code if type(code) is int and 400 <= code <= 599 else None
    mapped = error_from_status(
        status or 502,
        body,
        provider=endpoint.provider,
        display=endpoint.display,
        secrets=endpoint.secrets,
    )
    if status is None and isinstance(mapped, ProviderUnavailableError):
        _, message = body_code_and_message(body)
        detail = safe_text(message, endpoint.secrets)
        return ProviderUnavailableError(
            f"{endpoint.display} answered with an error{': ' + detail if detail else '.'}",
            provider=endpoint.provider,
        )
    return mapped
