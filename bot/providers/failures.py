"""What a provider's error answer means: safe text, request ids, status and body → error.

Every message built here is safe to show a member: provider text is shortened, URLs are
replaced and the key is redacted (STYLE.md §1.2, PROVIDERS.md §1.6, §3.5, §4.6, §6.4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from bot.core.errors import (
    AuthenticationError,
    ContentFilteredError,
    InsufficientCreditsError,
    ModelUnavailableError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RejectedRequestError,
    TaskFailedError,
)
from bot.core.request import TaskError, TaskStatus
from bot.core.retry import parse_retry_after

_MAX_TEXT = 200
_URL = re.compile(r"https?://\S+")
_FILTER_WORDS = (
    "sensitivecontentdetected",
    "content_filter",
    "content filter",
    "content policy",
    "sensitive information",  # Ark's and APIYI's wording
    "sensitive content",
)
_FILTER_CODES = ("sensitivecontent", "content_filter", "contentfilter")
_CREDIT_WORDS = ("insufficient", "credit", "accountoverdue", "balance")
#: "this provider does not serve that model" (Ark §6.4, OpenAI-style gateways, Pixazo's 404)
_MODEL_CODES = (
    "invalidendpoint",  # InvalidEndpoint.NotFound / .ClosedEndpoint, InvalidEndpointOrModel.*
    "modelnotopen",
    "modelnotfound",
    "model_not_found",
    "modelnotavailable",
    "model_not_available",
)
_MODEL_WORDS = re.compile(
    # between "model" and the verdict: the model id (dots inside a word only), one sentence
    r"\bmodel\b(?:[^.]|\.(?=\S)){0,60}?\b(does not exist|not (found|open|opened|activated|available"
    r"|supported|enabled)|unavailable|disabled|is closed)"
    r"|\bendpoint (is )?(not found|closed|does not exist)"
    r"|not activated the model|no available channel|无可用渠道",
    re.IGNORECASE,
)
#: headers a provider puts its request id in (Ark/ByteDance: X-Tt-Logid; Azure APIM, one-api)
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-tt-logid",
    "x-oneapi-request-id",
    "apim-request-id",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-trace-id",
    "cf-ray",
)
#: Ark writes "... Request id: 0217..." into the error message; others a request_id field
_BODY_REQUEST_ID = re.compile(
    r"request[ _-]?id\W{0,4}([A-Za-z0-9][A-Za-z0-9._:-]{3,127})", re.IGNORECASE
)
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
#: a word holding this is a key the provider echoed back masked (``sk-ab****wxyz``)
_MASK = "***"
#: a run this long shared with a key means the key (or a piece of it) is in the text
_KEY_FRAGMENT = 8


def safe_text(text: object, secrets: Iterable[str] = (), *, limit: int = _MAX_TEXT) -> str:
    """Provider text made fit for a member's eyes (and a log line): no URLs, no key or piece
    of one, no control characters, one short line.

    Only the head of a long text is looked at (what is kept is short anyway), and every step
    is linear: a provider's text must not be able to stall the event loop.
    """
    clean = " ".join(_CONTROL.sub(" ", str(text)[: limit * 4]).split())
    secrets = [s for s in secrets if s]
    for secret in secrets:
        clean = clean.replace(secret, "[redacted]")
    clean = _URL.sub("<url>", clean)
    fragments = {
        s[i : i + _KEY_FRAGMENT] for s in secrets for i in range(len(s) - _KEY_FRAGMENT + 1)
    }
    clean = " ".join(
        "[redacted]" if _MASK in word or any(f in word for f in fragments) else word
        for word in clean.split(" ")
    )
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def request_id(headers: Mapping[str, str], body_text: str = "") -> str | None:
    """The provider's id for a request (to quote to its support): a header, else the body."""
    for name in REQUEST_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value and _SAFE_ID.fullmatch(value):
            return value
    match = _BODY_REQUEST_ID.search(body_text)
    return match.group(1) if match else None


def body_code_and_message(body: object) -> tuple[str, str]:
    """The error code and message from any of the providers' error shapes."""
    if not isinstance(body, dict):
        return "", str(body or "")
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type") or ""
        return str(code), str(error.get("message") or "")
    if isinstance(error, str):
        return "", error
    message = body.get("msg") or body.get("message") or body.get("detail") or ""
    if isinstance(message, (list, dict)):  # FastAPI validation detail
        message = json.dumps(message)[:_MAX_TEXT]
    return str(body.get("code") or ""), str(message)


def is_model_unavailable(code: str, message: str) -> bool:
    """True when the provider says it does not serve the model (or endpoint) asked for."""
    lowered = code.lower().replace(".", "")
    return any(c in lowered for c in _MODEL_CODES) or bool(_MODEL_WORDS.search(message))


def is_content_filter(code: str, message: str) -> bool:
    """True when the provider's words say its content filter fired."""
    lowered = code.lower().replace(".", "")
    text = message.lower()
    return any(c in lowered for c in _FILTER_CODES) or any(w in text for w in _FILTER_WORDS)


def error_from_status(
    status: int,
    body: object,
    *,
    provider: str,
    display: str,
    retry_after: float | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Map an HTTP status (or a KIE body ``code``) and an error body to our hierarchy."""
    code, raw = body_code_and_message(body)
    detail = safe_text(raw, secrets)
    suffix = f": {detail}" if detail else "."
    words = f"{code} {raw}".lower().replace(" ", "")
    if is_content_filter(code, raw):
        return ContentFilteredError(
            f"{display}'s content filter blocked this request{suffix}", provider=provider
        )
    if status == 402 or any(w in words for w in _CREDIT_WORDS):
        return InsufficientCreditsError(f"{display} account is out of credits.", provider=provider)
    if is_model_unavailable(code, raw):
        return ModelUnavailableError(
            f"{display} does not offer this model right now{suffix}", provider=provider
        )
    if status in (401, 403):
        # The provider's own words are left out: some echo a masked key back.
        return AuthenticationError(
            f"{display} refused the API key (HTTP {status}).", provider=provider
        )
    if status == 429:
        return RateLimitedError(
            f"{display} is rate limiting the bot; try again shortly.",
            provider=provider,
            retry_after=retry_after,
        )
    if status == 501:  # KIE: "generation failed"
        return TaskFailedError(f"{display} could not generate the image{suffix}", provider=provider)
    if status in (408, 455) or status >= 500:
        return ProviderUnavailableError(
            f"{display} is unavailable right now (HTTP {status}).", provider=provider
        )
    return RejectedRequestError(
        f"{display} rejected the request (HTTP {status}){suffix}", provider=provider
    )


def error_from_response(
    response: httpx.Response, *, provider: str, display: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """``error_from_status`` for an httpx response (body parsed leniently, Retry-After read)."""
    try:
        body: object = response.json()
    except ValueError:
        body = (
            response.text[:_MAX_TEXT] if "json" in response.headers.get("content-type", "") else ""
        )
    return error_from_status(
        response.status_code,
        body,
        provider=provider,
        display=display,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        secrets=secrets,
    )


#: a failed task that says the account ran dry (another provider may well serve the job)
_NO_CREDITS = re.compile(
    r"insufficient (credit|balance|fund)|out of (credit|balance)|not enough (credit|balance)"
    r"|credits? (exhausted|insufficient)|account ?overdue",
    re.IGNORECASE,
)
#: a failed task that says the provider itself broke (worth a try elsewhere)
_PROVIDER_FAULT = re.compile(
    r"internal (server )?error|temporarily unavailable|service unavailable|overloaded"
    r"|timed? ?out|try again later",
    re.IGNORECASE,
)


def task_error(code: object, message: object, secrets: Iterable[str] = ()) -> TaskError:
    """A failed task's error, classified: the content filter gets ``content_filter``, an
    empty account ``insufficient_credits``, and a fault of the provider's is ``retryable``."""
    code_text, text = str(code or ""), safe_text(message or "", secrets)
    retryable = False
    if is_content_filter(code_text, text):
        code_text = "content_filter"
    elif code_text == "402" or _NO_CREDITS.search(f"{code_text} {text}"):
        code_text = "insufficient_credits"
    elif is_model_unavailable(code_text, text):
        code_text = "model_unavailable"
    elif code_text.startswith("5") or _PROVIDER_FAULT.search(text):
        retryable = True
    return TaskError(
        code=code_text or "failed",
        message=text or "The provider reported a failure.",
        retryable=retryable,
    )


def failure_error(status: TaskStatus, *, provider: str, display: str) -> ProviderError:
    """The exception a caller raises for a FAILED status (content filter or task failure)."""
    error = status.error or TaskError()
    if error.code == "content_filter":
        return ContentFilteredError(
            f"{display}'s content filter blocked this request: {error.message}", provider=provider
        )
    if error.code == "insufficient_credits":
        return InsufficientCreditsError(f"{display} account is out of credits.", provider=provider)
    if error.code == "model_unavailable":
        return ModelUnavailableError(
            f"{display} does not offer this model right now: {error.message}", provider=provider
        )
    return TaskFailedError(
        f"{display} could not generate the image: {error.message}", provider=provider
    )


def unavailable(display: str, provider: str, why: str) -> ProviderUnavailableError:
    """A ProviderUnavailableError with a safe, specific message."""
    return ProviderUnavailableError(f"{display} {why}", provider=provider)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (defensive parsing)."""
    return value if isinstance(value, dict) else {}
