"""Redirects: API calls never follow one (a provider fault, the key stays home); image
downloads follow them without any provider credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.downloads import MAX_REDIRECTS, download_images
from bot.errors import ImageError, ProviderUnavailableError
from bot.jobs.models import JobState
from bot.models import GenerationRequest, ResultImage, TaskState
from tests.jobs.harness import Harness
from tests.providers.conftest import FLAVORS_ALL, TASK_BASED, MakeFake
from tests.providers.fakes import make_image
from tests.providers.servers import Recorder

PNG = make_image("png")
#: every header a provider key travels in, in this project or a likely next one
CREDENTIAL_HEADERS = {
    "authorization": "Bearer sk-download-secret",
    "x-api-key": "sk-download-secret",
    "api-key": "sk-download-secret",
    "ocp-apim-subscription-key": "sk-download-secret",
    "x-goog-api-key": "sk-download-secret",
}


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = await Recorder().start()
    yield rec
    await rec.stop()


def _request() -> GenerationRequest:
    return GenerationRequest(prompt="a lighthouse at dusk")


@pytest.mark.parametrize("flavor", FLAVORS_ALL)
async def test_a_submit_answered_with_302_is_a_provider_fault_and_goes_nowhere(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    fake = await make_fake(flavor)
    fake.fail_next("submit", 302, headers={"Location": f"{recorder.url}/elsewhere"})
    provider = fake.provider(client)
    with pytest.raises(ProviderUnavailableError, match="redirect") as caught:
        await provider.submit(_request())
    assert caught.value.failover  # the job goes to the next provider
    assert recorder.seen == []  # nothing (and no key) followed the redirect
    assert fake.count("submit") == 1  # a submit that reached the provider is not repeated


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_never_carries_the_subscription_key(
    status: int, make_fake: MakeFake, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    # Pixazo's key is not in Authorization, which is all httpx strips on a cross-origin hop.
    fake = await make_fake("pixazo")
    fake.fail_next("submit", status, headers={"Location": f"{recorder.url}/steal"})
    with pytest.raises(ProviderUnavailableError):
        await fake.provider(client).submit(_request())
    assert recorder.seen == []


@pytest.mark.parametrize("flavor", TASK_BASED)
async def test_a_status_redirect_is_retried_then_the_task_is_read(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    fake = await make_fake(flavor, states=("succeeded",))
    provider = fake.provider(client)
    queued = await provider.submit(_request())
    fake.fail_next("status", 302, headers={"Location": f"{recorder.url}/status"})
    status = await provider.status(queued.task_id)
    assert status.state is TaskState.SUCCEEDED
    assert fake.count("status") == 2  # the 302, then the retry
    assert recorder.seen == []


@pytest.mark.parametrize("flavor", TASK_BASED)
async def test_a_status_that_keeps_redirecting_is_a_provider_fault(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    fake = await make_fake(flavor)
    provider = fake.provider(client)
    queued = await provider.submit(_request())
    fake.fail_next("status", 307, times=10, headers={"Location": f"{recorder.url}/s"})
    with pytest.raises(ProviderUnavailableError):
        await provider.status(queued.task_id)
    assert recorder.seen == []


async def test_a_job_whose_provider_redirects_fails_over(
    tmp_path: Path, make_fake: MakeFake, client: httpx.AsyncClient, recorder: Recorder
) -> None:
    ark, apiyi = await make_fake("ark"), await make_fake("apiyi")
    ark.fail_next("submit", 302, headers={"Location": f"{recorder.url}/x"})
    harness = Harness(tmp_path, [ark.provider(client), apiyi.provider(client)], http=client)
    try:
        await harness.open()
        done = await harness.final((await harness.create()).id)
    finally:
        await harness.close()
    assert (done.state, done.provider, done.tried_providers) == (JobState.DONE, "apiyi", ("ark",))
    assert recorder.seen == []


class RedirectingHost:
    """An image host whose links redirect to another origin (a CDN, say)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        raise web.HTTPFound(f"{self.target}/cdn/{request.match_info['name']}")


@pytest.fixture
async def image_host(recorder: Recorder) -> AsyncIterator[RedirectingHost]:
    recorder.body, recorder.content_type = PNG, "image/png"
    host = RedirectingHost(recorder.url)
    app = web.Application()
    app.router.add_get("/img/{name}", host.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield host
    await runner.cleanup()


async def test_downloads_follow_redirects_without_any_credential(
    image_host: RedirectingHost, recorder: Recorder
) -> None:
    # A client that carries credentials by default: none may reach either host.
    async with httpx.AsyncClient(headers=CREDENTIAL_HEADERS, cookies={"session": "s3"}) as http:
        got = await download_images(http, [ResultImage(url=f"{image_host.url}/img/a.png")])
    assert got == [PNG]
    assert [s.path for s in recorder.seen] == ["/cdn/a.png"]
    for headers in [*image_host.seen, *(s.headers for s in recorder.seen)]:
        assert not set(CREDENTIAL_HEADERS) & set(headers)
        assert "cookie" not in headers
        assert "sk-download-secret" not in " ".join(headers.values())


async def test_the_shared_client_downloads_through_a_redirect(
    image_host: RedirectingHost, recorder: Recorder, client: httpx.AsyncClient
) -> None:
    # The shared client follows no redirect by default; downloads opt in per request.
    got = await download_images(client, [ResultImage(url=f"{image_host.url}/img/b.png")])
    assert got == [PNG]
    assert len(recorder.seen) == 1


async def test_a_redirect_loop_is_a_bad_image_not_a_crash(client: httpx.AsyncClient) -> None:
    hops: list[str] = []

    async def loop(request: web.Request) -> web.Response:
        hops.append(request.path)
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/loop", loop)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/loop"
        with pytest.raises(ImageError, match="circles"):
            await download_images(client, [ResultImage(url=url)])
    finally:
        await runner.cleanup()
    assert len(hops) == MAX_REDIRECTS + 1
