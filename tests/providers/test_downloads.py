"""download_images: concurrency, order, byte cap, sniffing, partial failure."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.core.errors import ImageError, ProviderUnavailableError, RateLimitedError, TaskFailedError
from bot.core.request import ResultImage
from bot.providers.downloads import download_images
from tests.providers.fakes import HTML_PAGE, make_image

PNG, JPEG = make_image("png", 0), make_image("jpeg", 1)


class Host:
    """An image host with a few misbehaving routes."""

    def __init__(self) -> None:
        self.base = ""
        self.headers: list[dict[str, str]] = []
        self.failures = 0

    async def png(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.Response(body=PNG, content_type="image/png")

    async def jpeg(self, request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def big(self, request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length: the cap must hold while streaming.
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(PNG)
        for _ in range(64):
            await response.write(b"\0" * 65536)
        return response

    async def declared_big(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG + b"\0" * 300_000, content_type="image/png")

    async def html(self, request: web.Request) -> web.Response:
        return web.Response(body=HTML_PAGE, content_type="text/html")

    async def gone(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="expired")

    async def flaky(self, request: web.Request) -> web.Response:
        self.failures += 1
        if self.failures == 1:
            return web.Response(status=503)
        return web.Response(body=PNG, content_type="image/png")

    async def busy(self, request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "0"})

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.base + "/png")


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    h = Host()
    app = web.Application()
    for name in ("png", "jpeg", "big", "declared_big", "html", "gone", "flaky", "busy", "redirect"):
        app.router.add_get(f"/{name}", getattr(h, name))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    h.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield h
    await runner.cleanup()


def urls(host: Host, *names: str) -> list[ResultImage]:
    return [ResultImage(url=f"{host.base}/{name}") for name in names]


async def test_fetches_in_order(host: Host, client: httpx.AsyncClient) -> None:
    got = await download_images(client, urls(host, "jpeg", "png", "redirect"))
    assert got == [JPEG, PNG, PNG]


async def test_fetches_concurrently(host: Host, client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    got = await download_images(client, urls(host, *["png?delay=0.2"] * 4))
    assert len(got) == 4
    assert time.monotonic() - started < 0.6  # not 4 x 0.2 s


async def test_no_key_goes_to_the_image_host(host: Host, client: httpx.AsyncClient) -> None:
    await download_images(client, urls(host, "png"))
    assert "Authorization" not in host.headers[0]


@pytest.mark.parametrize("route", ["big", "declared_big"])
async def test_byte_cap(route: str, host: Host, client: httpx.AsyncClient) -> None:
    with pytest.raises(ImageError, match="larger than"):
        await download_images(client, urls(host, route), max_bytes=200_000)
    # the same body is fine under a larger cap
    assert len((await download_images(client, urls(host, route), max_bytes=8 * 2**20))[0]) > 200_000


async def test_byte_cap_on_inline_data(client: httpx.AsyncClient) -> None:
    with pytest.raises(ImageError, match="larger than"):
        await download_images(client, [ResultImage(data=PNG)], max_bytes=len(PNG) - 1)


async def test_not_an_image(host: Host, client: httpx.AsyncClient) -> None:
    with pytest.raises(ImageError):
        await download_images(client, urls(host, "html"))


async def test_one_bad_of_several_is_skipped(host: Host, client: httpx.AsyncClient) -> None:
    got = await download_images(client, urls(host, "html", "png", "gone", "jpeg"))
    assert got == [PNG, JPEG]


async def test_all_bad_raises_the_first_failure(host: Host, client: httpx.AsyncClient) -> None:
    with pytest.raises(ImageError, match="HTTP 404"):
        await download_images(client, urls(host, "gone", "html"))


async def test_transient_failure_is_retried(host: Host, client: httpx.AsyncClient) -> None:
    assert await download_images(client, urls(host, "flaky")) == [PNG]
    assert host.failures == 2


async def test_persistent_429_gives_up(host: Host, client: httpx.AsyncClient) -> None:
    with pytest.raises(RateLimitedError):
        await download_images(client, urls(host, "busy"))


async def test_unreachable_host(client: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderUnavailableError):
        await download_images(client, [ResultImage(url="http://127.0.0.1:9/x.png")])


async def test_inline_bytes_and_data_urls_are_sniffed(client: httpx.AsyncClient) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    images = [ResultImage(data=JPEG), ResultImage(url=data_url), ResultImage(data=b"GIF89a...")]
    assert await download_images(client, images) == [JPEG, PNG]


async def test_nothing_to_download(client: httpx.AsyncClient) -> None:
    with pytest.raises(TaskFailedError):
        await download_images(client, [])
    with pytest.raises(ImageError):
        await download_images(client, [ResultImage()])
