"""bot.jobs.pipeline.generate: the CLI's path selects and fails over like a job does."""

from __future__ import annotations

import httpx
import pytest

from bot.core.errors import ContentFilteredError, RequestValidationError
from bot.core.request import GenerationRequest
from bot.jobs.pipeline import generate
from tests.providers.conftest import FAST, MakeFake


async def test_a_failed_task_fails_over_to_the_next_provider(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    first = await make_fake("poyo", fail="Internal server error, try again later")
    second = await make_fake("vidgo")
    result = await generate(
        [first.provider(client), second.provider(client)],
        GenerationRequest(prompt="a fox"),
        client=client,
        schedule=FAST,
    )
    assert result.provider == "vidgo"
    assert result.delivered == 1
    assert (first.count("submit"), second.count("submit")) == (1, 1)


async def test_a_content_filter_does_not_fail_over(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    first = await make_fake("ark", fail="The prompt violates our content policy")
    second = await make_fake("vidgo")
    with pytest.raises(ContentFilteredError):
        await generate(
            [first.provider(client), second.provider(client)],
            GenerationRequest(prompt="a fox"),
            client=client,
            schedule=FAST,
        )
    assert second.count() == 0


async def test_a_provider_that_cannot_take_the_request_is_skipped(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    first, second = await make_fake("poyo"), await make_fake("apiyi")
    request = GenerationRequest(prompt="a fox", seed=5)  # PoYo takes no seed, APIYI does
    result = await generate(
        [first.provider(client), second.provider(client)], request, client=client, schedule=FAST
    )
    assert result.provider == "apiyi"
    assert first.count() == 0


async def test_no_provider_taking_the_request_sends_nothing(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    first, second = await make_fake("poyo"), await make_fake("vidgo")
    with pytest.raises(RequestValidationError) as caught:
        await generate(
            [first.provider(client), second.provider(client)],
            GenerationRequest(prompt="a fox", aspect_ratio="40:1"),
            client=client,
        )
    assert caught.value.field == "ratio"
    assert first.count() == second.count() == 0
