"""A provider key never shows up in an error, a repr, or a log record (DEBUG included)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from bot.core.errors import SeedreamError
from bot.core.request import GenerationRequest
from bot.jobs.pipeline import generate
from tests.providers.conftest import FAST, MakeFake
from tests.providers.fakes import FLAVORS, FakeProvider

Scenario = Callable[[FakeProvider], None]


def echo_key_in_rejection(fake: FakeProvider) -> None:
    fake.fail_next("submit", 400, body={"error": f"Invalid key {fake.api_key} for this route"})


def echo_key_in_failure(fake: FakeProvider) -> None:
    fake.script.fail = f"task failed for key {fake.api_key}"


SCENARIOS: dict[str, Scenario] = {
    "success": lambda fake: None,
    "unauthorized": lambda fake: fake.fail_next("submit", "unauthorized"),
    "no-credits": lambda fake: fake.fail_next("submit", "no_credits"),
    "rate-limited": lambda fake: fake.fail_next("submit", "rate_limited", retry_after="1"),
    "server-error": lambda fake: fake.fail_next("submit", "server_error"),
    "malformed": lambda fake: fake.fail_next("submit", "malformed"),
    "status-retries": lambda fake: fake.fail_next("status", "server_error", times=5),
    "content-filter": lambda fake: fake.fail_next("submit", "content_filter"),
    "echoed-key": echo_key_in_rejection,
    "failed-task": echo_key_in_failure,
    "html-result": lambda fake: setattr(fake.script, "html_images", frozenset({0})),
}


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_key_never_leaks(
    flavor: str,
    scenario: str,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = await make_fake(flavor)
    SCENARIOS[scenario](fake)
    provider = fake.provider(client)
    key = fake.api_key
    texts = [repr(provider), repr(provider.config), str(provider.capabilities)]
    try:
        await generate([provider], GenerationRequest(prompt="a fox"), client=client, schedule=FAST)
    except SeedreamError as exc:
        texts += [str(exc), repr(exc), exc.user_message, repr(exc.args), repr(exc.__cause__)]
    for record in caplog.records:
        texts += [record.getMessage(), str(vars(record))]
    assert caplog.records, "DEBUG logging should have produced records"
    assert fake.count() >= 1  # the key was really sent
    leaked = [text for text in texts if key in text]
    assert leaked == []


async def test_auth_error_message_is_plain(make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    fake = await make_fake("poyo")
    fake.fail_next("submit", 401, body={"error": {"message": f"Incorrect API key {fake.api_key}"}})
    with pytest.raises(SeedreamError) as caught:
        await fake.provider(client).submit(GenerationRequest(prompt="a fox"))
    assert caught.value.user_message == "PoYo refused the API key (HTTP 401)."
