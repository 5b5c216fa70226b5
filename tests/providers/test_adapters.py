"""Every adapter against its fake: generation, edits, states, errors, retries, failures."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.core.errors import (
    AuthenticationError,
    ContentFilteredError,
    ImageError,
    InsufficientCreditsError,
    ProviderUnavailableError,
    RateLimitedError,
    TaskFailedError,
)
from bot.core.request import GenerationRequest, TaskState, TaskStatus
from bot.jobs.pipeline import GenerationResult, generate
from bot.providers.base import Provider
from tests.providers.conftest import FAST, TASK_BASED, MakeFake
from tests.providers.fakes import FLAVORS, FakeProvider, Recorded

REFS = ("https://img.example/a.png", "https://img.example/b.png")
#: a model per provider that can return several images
MULTI_MODEL = {
    "poyo": "seedream-4.5",
    "vidgo": "seedream-4.5",
    "apikley": "bytedance/seedream-v4-text-to-image",
    "apiyi": "seedream-4-5-251128",
    "ark": "seedream-4-5-251128",
}
EDIT_MODEL = {
    "poyo": "seedream-4.5-edit",
    "vidgo": "seedream-4.5-edit",
    "pixazo": "seedream-4-5-251128",
    "apikley": "seedream/4.5-edit",
    "apiyi": "seedream-5-0-260128",
    "ark": "seedream-4-5-251128",
}


async def run(provider: Provider, client: httpx.AsyncClient, **fields: Any) -> GenerationResult:
    request = GenerationRequest(prompt=fields.pop("prompt", "a red fox"), **fields)
    return await generate([provider], request, client=client, schedule=FAST)


def refs_sent(flavor: str, record: Recorded) -> list[str]:
    body = record.body
    if flavor in ("poyo", "vidgo", "apikley"):
        return list(body["input"].get("image_urls", []))
    image = body.get("image", [])
    return [image] if isinstance(image, str) else list(image)


def assert_images(result: GenerationResult, count: int) -> None:
    assert result.delivered == count
    for data in result.images:
        with Image.open(io.BytesIO(data)) as image:
            image.load()


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_text_to_image(flavor: str, make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    fake = await make_fake(flavor)
    result = await run(fake.provider(client), client, aspect_ratio="16:9")
    assert_images(result, 1)
    assert result.provider == flavor
    assert result.requested == 1
    assert fake.count("submit") == 1
    assert fake.count("image") == 1
    assert fake.count("status") == (2 if flavor in TASK_BASED else 0)
    assert refs_sent(flavor, fake.last()) == []
    assert fake.last().body["model"] == result.model


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("refs", [REFS[:1], REFS], ids=["one-ref", "two-refs"])
async def test_edit_sends_references_and_edit_model(
    flavor: str, refs: tuple[str, ...], make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    result = await run(fake.provider(client), client, reference_images=refs)
    assert_images(result, 1)
    assert refs_sent(flavor, fake.last()) == list(refs)
    assert fake.last().body["model"] == EDIT_MODEL[flavor] == result.model
    if flavor == "pixazo":
        expected = "getEditImage" if len(refs) == 1 else "getEditMultiImage"
        assert fake.last().path.endswith(expected)
    if flavor == "ark":  # a string for one image, an array for several
        assert isinstance(fake.last().body["image"], str) == (len(refs) == 1)


@pytest.mark.parametrize("flavor", [*TASK_BASED, "pixazo"])
async def test_every_state_transition(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, states=("queued", "queued", "running", "succeeded"))
    fake.script.pixazo_async = True
    provider = fake.provider(client)
    submitted = await provider.submit(provider.validate(GenerationRequest(prompt="a fox")))
    assert submitted.state is TaskState.QUEUED
    seen = [(await provider.status(submitted.task_id)).state for _ in range(3)]
    assert seen == [TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED]
    final = await provider.status(submitted.task_id)
    assert final.task_id == submitted.task_id
    assert len(final.images) == 1


@pytest.mark.parametrize("flavor", ["apiyi", "ark", "pixazo"])
async def test_synchronous_result_is_cached_for_status(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    provider = fake.provider(client)
    status = await provider.submit(GenerationRequest(prompt="a fox"))
    assert status.state is TaskState.SUCCEEDED
    assert status.task_id.startswith("sync-")
    assert await provider.status(status.task_id) == status
    with pytest.raises(TaskFailedError, match="no longer held"):
        await provider.status("sync-unknown")
    assert provider.capabilities.synchronous
    assert not provider.capabilities.callbacks


@pytest.mark.parametrize("flavor", ["poyo", "vidgo", "apikley", "apiyi", "ark"])
async def test_fewer_images_than_requested(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, images=2)
    result = await run(fake.provider(client, MULTI_MODEL[flavor]), client, count=3)
    assert result.requested == 3
    assert_images(result, 2)


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_no_images_at_all_fails(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, images=0)
    with pytest.raises(TaskFailedError):
        await run(fake.provider(client), client)


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_wrong_key_is_authentication_error(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    with pytest.raises(AuthenticationError) as caught:
        await run(fake.provider(client, api_key="not-the-key"), client)
    assert "401" in caught.value.user_message
    assert fake.count("submit") == 1


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_insufficient_credits(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", "no_credits")
    with pytest.raises(InsufficientCreditsError):
        await run(fake.provider(client), client)
    assert fake.count("submit") == 1


async def test_apikley_credits_as_http_402(make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    fake = await make_fake("apikley")
    fake.fail_next("submit", "no_credits", http_status=402)
    with pytest.raises(InsufficientCreditsError):
        await run(fake.provider(client), client)


def _retry_route(flavor: str) -> str:
    # Status queries and downloads are retried; synchronous providers only have downloads.
    return "status" if flavor in TASK_BASED else "image"


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "unavailable", "truncated"])
async def test_transient_error_then_success(
    flavor: str, kind: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    route = _retry_route(flavor)
    if kind == "truncated" and route == "image":
        kind = "server_error"
    fake.fail_next(route, kind, retry_after="0")
    result = await run(fake.provider(client), client)
    assert_images(result, 1)
    # One failed answer, then success (a truncated status answer still moved the task on).
    assert fake.count(route) == (2 if route == "image" or kind == "truncated" else 3)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("rate_limited", RateLimitedError),
        ("server_error", ProviderUnavailableError),
        ("malformed", ProviderUnavailableError),
        ("truncated", ProviderUnavailableError),
    ],
)
async def test_submit_is_never_retried_once_sent(
    flavor: str, kind: str, error: type[Exception], make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", kind, retry_after="7")
    # the adapter's own policy; a job (and generate) may submit again after a 429 on purpose
    with pytest.raises(error) as caught:
        await fake.provider(client).submit(GenerationRequest(prompt="a fox"))
    assert fake.count("submit") == 1
    if kind == "rate_limited":
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("flavor", TASK_BASED)
async def test_status_errors_give_up_after_bounded_attempts(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"))
    fake.fail_next("status", "malformed", times=10)
    with pytest.raises(ProviderUnavailableError):
        await provider.status(task.task_id)
    assert fake.count("status") == 3  # stamina test mode: 3 attempts


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    ("message", "code", "error"),
    [
        (
            "The prompt violates our content policy",
            "OutputImageSensitiveContentDetected",
            ContentFilteredError,
        ),
        ("Internal server error", "InternalServiceError", TaskFailedError),
    ],
    ids=["content-filter", "failure"],
)
async def test_failed_task(
    flavor: str,
    message: str,
    code: str,
    error: type[Exception],
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    fake = await make_fake(flavor, fail=message, fail_code=code)
    with pytest.raises(error) as caught:
        await run(fake.provider(client), client)
    assert type(caught.value) is error
    assert fake.count("image") == 0


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_content_filter_rejection_on_submit(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", "content_filter")
    with pytest.raises(ContentFilteredError):
        await run(fake.provider(client), client)


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_result_url_serving_html_is_not_an_image(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, html_images=frozenset({0}))
    with pytest.raises(ImageError):
        await run(fake.provider(client), client)


@pytest.mark.parametrize("flavor", ["poyo", "apikley", "ark"])
async def test_one_bad_image_of_several_is_skipped(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, html_images=frozenset({1}))
    result = await run(fake.provider(client, MULTI_MODEL[flavor]), client, count=3)
    assert_images(result, 2)


@pytest.mark.parametrize("flavor", ["pixazo", "apiyi", "ark"])
@pytest.mark.parametrize("image_format", ["png", "jpeg"])
async def test_base64_answers_are_decoded(
    flavor: str, image_format: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, b64=True, image_format=image_format)
    result = await run(fake.provider(client), client)
    assert_images(result, 1)
    assert fake.count("image") == 0


@pytest.mark.parametrize("flavor", ["apiyi", "ark"])
async def test_b64_with_html_inside_is_not_an_image(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, b64=True, html_images=frozenset({0}))
    with pytest.raises(ImageError):
        await run(fake.provider(client), client)


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_latency_is_tolerated(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, latency=0.02)
    assert_images(await run(fake.provider(client), client), 1)


async def test_fake_serves_provider_shaped_not_found(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake: FakeProvider = await make_fake("poyo")
    with pytest.raises(Exception, match="rejected"):
        await fake.provider(client).status("task-unknown")


@pytest.mark.parametrize("flavor", ["poyo", "ark"])
async def test_generate_reports_each_status_change_once(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, states=("queued", "queued", "running", "running", "succeeded"))
    seen: list[TaskState] = []

    async def on_update(status: TaskStatus) -> None:
        seen.append(status.state)

    request = GenerationRequest(prompt="a fox")
    await generate(
        [fake.provider(client)], request, client=client, schedule=FAST, on_update=on_update
    )
    expected = (
        [TaskState.SUCCEEDED]
        if flavor == "ark"
        else [TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED]
    )
    assert seen == expected
