"""Provider HTTP plumbing: URL joining (transport), error mapping (failures), client, retries."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest
import stamina

from bot import __version__
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
from bot.core.request import GenerationRequest, TaskState, TaskStatus
from bot.providers.failures import (
    error_from_response,
    error_from_status,
    failure_error,
    safe_text,
    task_error,
)
from bot.providers.transport import join_url, make_http_client, ssl_context
from tests.providers.conftest import MakeFake


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("https://api.poyo.ai", "/api/generate/submit", "https://api.poyo.ai/api/generate/submit"),
        ("https://api.poyo.ai/", "/api/generate/submit", "https://api.poyo.ai/api/generate/submit"),
        ("https://h/api/v3", "/api/v3/images/generations", "https://h/api/v3/images/generations"),
        ("https://h/api/v3/", "/api/v3/images/generations", "https://h/api/v3/images/generations"),
        ("https://h/v1", "/v1/images/generations", "https://h/v1/images/generations"),
        ("https://h/proxy", "/v1/images/generations", "https://h/proxy/v1/images/generations"),
        ("https://h/proxy/v1", "/v1/images/generations", "https://h/proxy/v1/images/generations"),
        ("https://h/api", "/api/generate/submit", "https://h/api/api/generate/submit"),
        ("http://127.0.0.1:8080/x", "/api/v1/jobs/createTask",
         "http://127.0.0.1:8080/x/api/v1/jobs/createTask"),
    ],
)  # fmt: skip
def test_join_url(base: str, path: str, url: str) -> None:
    assert join_url(base, path) == url


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"code": 401, "error": {"message": "bad key", "type": "authentication_error"}},
         AuthenticationError),
        (403, {"error": "Access denied for this operation"}, AuthenticationError),
        (403, {"error": {"code": "AccountOverdueError", "message": "overdue"}},
         InsufficientCreditsError),
        (403, {"error": {"message": "user quota is not enough", "code": "insufficient_user_quota"}},
         InsufficientCreditsError),
        (402, {"error": "Out of credits"}, InsufficientCreditsError),
        (402, {"code": 402, "msg": "Credits insufficient"}, InsufficientCreditsError),
        (429, {"error": {"code": "insufficient_quota", "message": "quota"}},
         InsufficientCreditsError),
        (429, {"error": "Rate limit exceeded, please retry later"}, RateLimitedError),
        (400, {"error": {"code": "InputImageSensitiveContentDetected", "message": "x"}},
         ContentFilteredError),
        (400, {"error": {"code": "content_filter", "message": "output may be sensitive"}},
         ContentFilteredError),
        (400, {"error": "The prompt violates our content policy"}, ContentFilteredError),
        (400, {"code": 400, "error": {"message": "Invalid parameter: size"}}, RejectedRequestError),
        (422, {"code": 422, "msg": "image_size is invalid"}, RejectedRequestError),
        (404, {"error": "Endpoint not found"}, ModelUnavailableError),
        (422, {"detail": [{"loc": ["body", "size"], "msg": "bad"}]}, RejectedRequestError),
        (455, {"code": 455, "msg": "maintenance"}, ProviderUnavailableError),
        (500, {"error": "An unexpected error occurred"}, ProviderUnavailableError),
        (502, "", ProviderUnavailableError),
        (503, None, ProviderUnavailableError),
        (408, {}, ProviderUnavailableError),
        (501, {"code": 501, "msg": "Generation failed"}, TaskFailedError),
    ],
)  # fmt: skip
def test_error_mapping(status: int, body: object, error: type[ProviderError]) -> None:
    mapped = error_from_status(status, body, provider="p", display="Prov", retry_after=3.0)
    assert type(mapped) is error
    assert mapped.provider == "p"
    assert mapped.user_message.startswith("Prov")
    assert mapped.retryable is error.retryable
    if error is RateLimitedError:
        assert isinstance(mapped, RateLimitedError)
        assert mapped.retry_after == 3.0


def test_rejection_carries_the_provider_reason() -> None:
    mapped = error_from_status(
        400,
        {"code": 400, "error": {"message": "Invalid parameter: size"}},
        provider="p",
        display="P",
    )
    assert mapped.user_message == "P rejected the request (HTTP 400): Invalid parameter: size"


def test_error_from_response_reads_retry_after_and_survives_non_json() -> None:
    response = httpx.Response(429, headers={"Retry-After": "12"}, text="<html>slow down</html>")
    mapped = error_from_response(response, provider="p", display="P")
    assert isinstance(mapped, RateLimitedError)
    assert mapped.retry_after == 12.0


def test_safe_text_hides_urls_and_keys_and_stays_short() -> None:
    key = "sk-secret-key-123456"
    text = safe_text(f"bad key {key} see https://user:pw@h/x?token=1\n\n more " + "x" * 500, [key])
    assert key not in text
    assert "https://" not in text
    assert "pw@" not in text
    assert len(text) <= 200
    assert "\n" not in text


async def test_http_client_defaults() -> None:
    async with make_http_client() as client:
        assert client.headers["User-Agent"] == f"seedream-bot/{__version__}"
        assert client.timeout.read is not None
        assert client.timeout.read > 60  # synchronous 4K generations take up to a minute
        assert client.timeout.connect == 10.0
        assert "authorization" not in {k.lower() for k in client.headers}
    context = ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def _counting_client(
    exc: Exception | None, status: int = 500
) -> tuple[httpx.AsyncClient, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if exc is not None:
            raise exc
        return httpx.Response(status, json={"error": "boom"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), calls


@pytest.mark.parametrize(
    ("exc", "status", "calls", "error"),
    [
        (httpx.ConnectError("refused"), 0, 3, ProviderUnavailableError),
        (httpx.ConnectTimeout("slow"), 0, 3, ProviderUnavailableError),
        (httpx.ReadTimeout("in flight"), 0, 1, ProviderUnavailableError),
        (None, 500, 1, ProviderUnavailableError),
        (None, 503, 1, ProviderUnavailableError),
        (None, 429, 1, RateLimitedError),
    ],
)
async def test_submit_retry_policy(
    exc: Exception | None, status: int, calls: int, error: type[Exception]
) -> None:
    from tests.providers.fakes import FakeProvider

    client, seen = _counting_client(exc, status)
    fake = FakeProvider("ark")
    fake.base_url = "http://127.0.0.1:9"
    async with client:
        with pytest.raises(error):
            await fake.provider(client).submit(GenerationRequest(prompt="a fox"))
    assert len(seen) == calls


async def test_retry_after_is_honoured_for_real(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    """With stamina's test mode off, the wait before the retry is the provider's Retry-After."""
    fake = await make_fake("poyo")
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"))
    fake.fail_next("status", "rate_limited", retry_after="0.05")
    with stamina.set_testing(False):
        started = time.monotonic()
        status = await provider.status(task.task_id)
        elapsed = time.monotonic() - started
    assert status.task_id == task.task_id
    assert fake.count("status") == 2
    # Slept the 0.05 s asked for, not stamina's own first backoff (0.5 s plus jitter).
    assert 0.05 <= elapsed < 0.4


@pytest.mark.parametrize(
    ("code", "message", "kind", "retryable"),
    [
        ("", "The prompt violates our content policy", "content_filter", False),
        ("402", "Payment required", "insufficient_credits", False),
        ("", "Insufficient credits, please top up", "insufficient_credits", False),
        ("AccountOverdueError", "Your account is overdue", "insufficient_credits", False),
        ("500", "Internal server error", "500", True),
        ("", "The service is temporarily unavailable", "failed", True),
        ("", "Generation timed out", "failed", True),
        ("", "The model could not follow the prompt", "failed", False),
    ],
)
def test_failed_tasks_are_classified(code: str, message: str, kind: str, retryable: bool) -> None:
    error = task_error(code, message)
    assert (error.code, error.retryable) == (kind, retryable)


def test_a_task_that_failed_for_want_of_credits_fails_over() -> None:
    status = TaskStatus(
        task_id="t",
        state=TaskState.FAILED,
        error=task_error("", "insufficient balance on this account"),
    )
    error = failure_error(status, provider="poyo", display="PoYo")
    assert isinstance(error, InsufficientCreditsError)
    assert error.failover
    assert error.user_message == "PoYo account is out of credits."
