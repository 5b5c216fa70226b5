"""What the official SDKs do and we did not: request ids in the log, a top-level ``error`` in a
200 classified like a per-image one, and "model not open / not found" failing over."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import (
    AuthenticationError,
    ContentFilteredError,
    ModelUnavailableError,
    ProviderError,
    ProviderUnavailableError,
    RejectedRequestError,
    TaskFailedError,
)
from bot.generation import generate
from bot.jobs.models import JobState
from bot.models import GenerationRequest, TaskState
from bot.providers.http import failure_error, request_id, safe_text
from tests.jobs.harness import Harness
from tests.providers.conftest import SYNCHRONOUS, MakeFake

LOGGER = "bot.providers.transport"
FILTER_TEXT = "The request failed because the output image may contain sensitive information"


def _request(**extra: Any) -> GenerationRequest:
    return GenerationRequest(prompt="a harbour at night", **extra)


def _log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == LOGGER)


async def _run_job(tmp_path: Path, client: httpx.AsyncClient, *providers: Any) -> Any:
    harness = Harness(tmp_path, list(providers), http=client)
    try:
        await harness.open()
        return await harness.final((await harness.create()).id)
    finally:
        await harness.close()


# -- request ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "kind", "header", "words"),
    [
        ("ark", "unauthorized", "X-Tt-Logid", "Invalid or missing authentication"),
        ("ark", "rate_limited", "X-Request-Id", "Rate limit exceeded"),
        ("apiyi", "server_error", "X-Oneapi-Request-Id", "An unexpected error occurred"),
        ("apiyi", "no_credits", "Request-Id", "user quota is not enough"),
        ("pixazo", "unauthorized", "Apim-Request-Id", "Invalid or missing authentication"),
        ("pixazo", "unavailable", "X-Request-Id", "Bad gateway"),
        ("poyo", "server_error", "X-Request-Id", "An unexpected error occurred"),
        ("vidgo", "unauthorized", "x-request-id", "Invalid or missing authentication"),
        ("apikley", "rate_limited", "X-Request-Id", "Rate limit exceeded"),
        # KIE's in-body code under HTTP 200: the words come from the decoded body
        ("apikley", "unauthorized", "X-Request-Id", "Invalid or missing authentication"),
        ("apikley", "no_credits", "X-Request-Id", "Insufficient credits"),
    ],
)
async def test_every_provider_error_is_logged_with_its_request_id_and_words(
    flavor: str,
    kind: str,
    header: str,
    words: str,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake = await make_fake(flavor)
    fake.fail_next("submit", kind, headers={header: "req-20251203-7f3a9c"})
    with pytest.raises(ProviderError) as caught:
        await fake.provider(client).submit(_request())
    assert caught.value.request_id == "req-20251203-7f3a9c"
    logged = _log(caplog)
    assert "request id req-20251203-7f3a9c" in logged
    assert type(caught.value).__name__ in logged
    assert words in logged  # the provider's own words, dropped before
    assert fake.api_key not in logged


async def test_arks_request_id_is_read_from_its_message(
    make_fake: MakeFake, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake = await make_fake("ark")
    message = "The service encountered an unexpected internal error. Request id: 0217331234abcdef0"
    body = {"error": {"code": "InternalServiceError", "message": message, "type": "Internal"}}
    fake.fail_next("submit", 500, body=body)
    with pytest.raises(ProviderUnavailableError) as caught:
        await fake.provider(client).submit(_request())
    assert caught.value.request_id == "0217331234abcdef0"
    assert "request id 0217331234abcdef0" in _log(caplog)
    assert "0217331234abcdef0" not in caught.value.user_message  # members see a plain sentence


async def test_a_status_error_is_logged_with_its_request_id_on_every_attempt(
    make_fake: MakeFake, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake = await make_fake("poyo")
    provider = fake.provider(client)
    queued = await provider.submit(_request())
    fake.fail_next("status", "server_error", times=5, headers={"X-Request-Id": "poll-1"})
    with pytest.raises(ProviderUnavailableError):
        await provider.status(queued.task_id)
    lines = [line for line in _log(caplog).splitlines() if "request id poll-1" in line]
    assert len(lines) == fake.count("status") == 3  # stamina's test mode: three attempts


async def test_the_logged_words_never_hold_the_key_or_a_piece_of_it(
    make_fake: MakeFake, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake = await make_fake("apiyi")
    key = fake.api_key
    masked = f"{key[:6]}****{key[-4:]}"
    message = f"Incorrect API key provided: {masked}. Key {key} was revoked;\r\nsee {key[3:15]}"
    fake.fail_next("submit", 401, body={"error": {"message": message, "code": "invalid_api_key"}})
    with pytest.raises(AuthenticationError) as caught:
        await fake.provider(client).submit(_request())
    logged = _log(caplog)
    assert "Incorrect API key provided" in logged
    assert key not in logged
    assert masked not in logged
    assert key[3:15] not in logged
    assert "\r" not in logged
    assert logged.count("\n") == 0
    assert "Incorrect" not in caught.value.user_message  # a 401's words stay out of Discord


def test_request_id_prefers_headers_and_refuses_garbage() -> None:
    headers = httpx.Headers({"X-Tt-Logid": "2025abc", "Request-Id": "second"})
    assert request_id(headers) == "second"  # Request-Id comes before X-Tt-Logid
    assert request_id(httpx.Headers({"X-Tt-Logid": "2025abc"})) == "2025abc"
    assert request_id(httpx.Headers({"X-Request-Id": "has space"})) is None
    assert request_id(httpx.Headers({"X-Request-Id": "x" * 300})) is None
    assert request_id(httpx.Headers(), '{"request_id": "r-42"}') == "r-42"
    assert request_id(httpx.Headers(), "no id here") is None


def test_safe_text_strips_control_characters() -> None:
    assert safe_text("bad\x1b[31m\u202eword\x00") == "bad [31m word"


# -- a top-level error in a 200 ------------------------------------------------------------


FILTER_BODIES = {
    "ark": {"error": {"code": "OutputImageSensitiveContentDetected", "message": FILTER_TEXT}},
    "apiyi": {"error": {"code": "content_filter", "message": FILTER_TEXT}},
    "pixazo": {"error": "The prompt violates our content policy"},
}


@pytest.mark.parametrize("flavor", SYNCHRONOUS)
async def test_a_200_with_a_top_level_content_filter_stays_a_content_filter(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", 200, body=FILTER_BODIES[flavor])
    provider = fake.provider(client)
    status = await provider.submit(_request())
    assert status.state is TaskState.FAILED
    assert status.error is not None
    assert status.error.code == "content_filter"
    fake.fail_next("submit", 200, body=FILTER_BODIES[flavor])
    with pytest.raises(ContentFilteredError):
        await generate(provider, _request(), client=client)


@pytest.mark.parametrize("flavor", ["poyo", "vidgo"])
async def test_a_200_submit_carrying_an_error_envelope_is_classified(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    body = {"code": 400, "error": {"message": FILTER_TEXT, "type": "invalid_request_error"}}
    fake.fail_next("submit", 200, body=body)
    with pytest.raises(ContentFilteredError):
        await fake.provider(client).submit(_request())
    fake.fail_next("submit", 200, body={"error": {"message": "Invalid parameter: size"}})
    with pytest.raises(ProviderUnavailableError, match="answered with an error"):
        await fake.provider(client).submit(_request())


async def test_a_filtered_job_does_not_fail_over(
    tmp_path: Path, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    ark, apiyi = await make_fake("ark"), await make_fake("apiyi")
    ark.fail_next("submit", 200, body=FILTER_BODIES["ark"])
    done = await _run_job(tmp_path, client, ark.provider(client), apiyi.provider(client))
    assert (done.state, done.error_code, done.provider) == (
        JobState.FAILED,
        "content_filtered",
        "ark",
    )
    assert apiyi.count("submit") == 0


async def test_a_200_with_a_provider_fault_at_the_top_fails_over(
    tmp_path: Path, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    ark, apiyi = await make_fake("ark"), await make_fake("apiyi")
    body = {"error": {"code": "InternalServiceError", "message": "Internal server error"}}
    ark.fail_next("submit", 200, body=body)
    done = await _run_job(tmp_path, client, ark.provider(client), apiyi.provider(client))
    assert (done.state, done.provider) == (JobState.DONE, "apiyi")


# -- model not open / not found ------------------------------------------------------------

NOT_OPEN = (
    "Your account 2100123456 has not activated the model seedream-4-5. Please activate the "
    "model service in the Ark Console. Request id: 02173312345"
)


@pytest.mark.parametrize(
    ("flavor", "status", "body"),
    [
        ("ark", 404, {"error": {"code": "InvalidEndpoint.NotFound", "message": "The model or "
                                "endpoint seedream-4-5 does not exist", "type": "NotFound"}}),
        ("ark", 404, {"error": {"code": "ModelNotOpen", "message": NOT_OPEN, "type": "NotFound"}}),
        ("ark", 400, {"error": {"code": "InvalidEndpoint.ClosedEndpoint",
                                "message": "The endpoint is closed", "type": "BadRequest"}}),
        ("ark", 404, {"error": {"code": "InvalidEndpointOrModel.NotFound",
                                "message": "The model does not exist or you do not have access"}}),
        ("apiyi", 404, {"error": {"code": "model_not_found", "message": "The model "
                                  "`seedream-5-0-260128` does not exist or you do not have access "
                                  "to it."}}),
        ("apiyi", 503, {"error": {"message": "No available channel for model seedream-5-0-260128 "
                                  "under group default", "type": "new_api_error"}}),
        ("pixazo", 404, {"error": "Endpoint not found"}),
        ("poyo", 400, {"code": 400, "error": {"message": "Model seedream-4.5 is not available",
                                              "type": "invalid_request_error"}}),
        ("apikley", 200, {"code": 422, "msg": "The model bytedance/seedream-v4 is not supported",
                          "data": None}),
    ],
)  # fmt: skip
async def test_model_not_open_or_not_found_is_a_failover_error(
    flavor: str, status: int, body: object, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", status, body=body)
    with pytest.raises(ModelUnavailableError) as caught:
        await fake.provider(client).submit(_request())
    assert caught.value.failover
    assert not caught.value.retryable
    assert fake.count("submit") == 1


async def test_a_model_the_first_provider_lacks_is_served_by_the_next(
    tmp_path: Path, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    ark, apiyi = await make_fake("ark"), await make_fake("apiyi")
    ark.fail_next("submit", "not_found")  # Ark's InvalidEndpoint.NotFound, HTTP 404
    done = await _run_job(tmp_path, client, ark.provider(client), apiyi.provider(client))
    assert (done.state, done.provider, done.tried_providers) == (JobState.DONE, "apiyi", ("ark",))


async def test_a_task_that_failed_for_want_of_the_model_fails_over(
    tmp_path: Path, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    poyo = await make_fake("poyo", fail="Model seedream-4.5 not found for this account")
    apiyi = await make_fake("apiyi")
    done = await _run_job(tmp_path, client, poyo.provider(client), apiyi.provider(client))
    assert (done.state, done.provider) == (JobState.DONE, "apiyi")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"code": 404, "error": {"message": "Task not found"}}, RejectedRequestError),
        (400, {"error": {"code": "InvalidParameter", "message": "size is invalid"}},
         RejectedRequestError),
        (400, {"error": {"message": "Parameter seed is not supported for model seedream-4"}},
         RejectedRequestError),
    ],
)  # fmt: skip
async def test_other_refusals_are_not_mistaken_for_a_missing_model(
    status: int, body: object, error: type[ProviderError], make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:  # fmt: skip
    fake = await make_fake("ark")
    fake.fail_next("submit", status, body=body)
    with pytest.raises(error):
        await fake.provider(client).submit(_request())


def test_failure_error_maps_a_model_unavailable_task() -> None:
    from bot.models import TaskError, TaskStatus

    status = TaskStatus(
        task_id="t",
        state=TaskState.FAILED,
        error=TaskError(code="model_unavailable", message="gone"),
    )
    assert isinstance(failure_error(status, provider="p", display="P"), ModelUnavailableError)
    other = status.model_copy(update={"error": TaskError(code="failed", message="x")})
    assert isinstance(failure_error(other, provider="p", display="P"), TaskFailedError)
