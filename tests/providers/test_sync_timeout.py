"""A synchronous generation waits as long as its batch needs: the read timeout grows with the
number and size of the images asked for (a 15-image 4K batch must not fail over at 180 s)."""

from __future__ import annotations

import httpx
import pytest

from bot.core.request import GenerationRequest, TaskState
from bot.providers.transport import (
    DEFAULT_TIMEOUT,
    SYNC_MAX_SECONDS,
    QueuedTransport,
    make_http_client,
    sync_read_timeout,
)
from tests.providers.conftest import MakeFake

K2, K4 = 2048 * 2048, 4096 * 4096


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real queued transport, noting each request's timeout extension on the way."""

    def __init__(self) -> None:
        self.inner = QueuedTransport()
        self.timeouts: list[dict[str, float | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(dict(request.extensions["timeout"]))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_read_timeout_is_base_plus_per_image_times_size() -> None:
    assert sync_read_timeout(1, K2) == DEFAULT_TIMEOUT.read  # one image: the usual 180 s
    assert sync_read_timeout(1, K4) == 180.0  # 60 + 45 x 2
    assert sync_read_timeout(4, K4) == 420.0
    assert sync_read_timeout(15, K4) == 1410.0  # 60 + 15 x 45 x 2
    assert sync_read_timeout(15, K2) == 735.0  # 60 + 15 x 45
    assert sync_read_timeout(15, 1024 * 1024) == 397.5  # the size factor stops at one half
    assert sync_read_timeout(200, K4) == SYNC_MAX_SECONDS


@pytest.mark.parametrize("count", [1, 2, 5, 10, 15])
def test_more_or_larger_images_never_wait_less(count: int) -> None:
    sizes = [1024 * 1024, K2, 3072 * 3072, K4]
    waits = [sync_read_timeout(count, pixels) for pixels in sizes]
    assert waits == sorted(waits)
    assert sync_read_timeout(count + 1, K4) >= sync_read_timeout(count, K4)


def test_a_15_image_4k_batch_waits_far_beyond_the_old_180_seconds() -> None:
    # 4K at 30-60 s an image (PROVIDERS.md §5.3): fifteen take up to 900 s.
    assert sync_read_timeout(15, K4) > 900


@pytest.mark.parametrize(
    ("flavor", "request_fields", "pixels", "count"),
    [
        ("ark", {"count": 15, "resolution": "4K"}, K4, 15),
        ("ark", {"count": 3, "aspect_ratio": "16:9", "resolution": "2K"}, 2560 * 1440, 3),
        ("apiyi", {"model": "seedream-4-5-251128", "count": 4, "width": 4096, "height": 4096},
         K4, 4),
        # Pixazo keeps to 2048x2048 in total (seed 001, l.26): its largest is a 2K size
        ("pixazo", {"aspect_ratio": "3:2", "resolution": "2K"}, 2496 * 1664, 1),
    ],
)  # fmt: skip
async def test_the_request_carries_the_extended_read_timeout(
    flavor: str,
    request_fields: dict[str, object],
    pixels: int,
    count: int,
    make_fake: MakeFake,
) -> None:
    fake = await make_fake(flavor)
    transport = RecordingTransport()
    async with make_http_client(transport=transport) as client:
        request = GenerationRequest(prompt="a comet over the sea", **request_fields)
        status = await fake.provider(client).submit(request)
    assert status.state is TaskState.SUCCEEDED
    (sent,) = transport.timeouts
    assert sent["read"] == sync_read_timeout(count, pixels)
    # only the read part changes
    assert (sent["connect"], sent["write"], sent["pool"]) == (
        DEFAULT_TIMEOUT.connect,
        DEFAULT_TIMEOUT.write,
        DEFAULT_TIMEOUT.pool,
    )


async def test_task_polls_keep_the_clients_timeout(make_fake: MakeFake) -> None:
    fake = await make_fake("poyo", states=("succeeded",))
    transport = RecordingTransport()
    async with make_http_client(transport=transport) as client:
        provider = fake.provider(client)
        queued = await provider.submit(GenerationRequest(prompt="a fox", count=15, resolution="4K"))
        await provider.status(queued.task_id)
    assert [t["read"] for t in transport.timeouts] == [DEFAULT_TIMEOUT.read] * 2


async def test_a_slow_big_batch_is_waited_for_not_failed_over(make_fake: MakeFake) -> None:
    # The client's read timeout is shorter than the provider takes; the batch's own is not.
    fake = await make_fake("ark", latency=0.5)
    short = httpx.Timeout(connect=5.0, read=0.1, write=5.0, pool=5.0)
    async with make_http_client(timeout=short) as client:
        request = GenerationRequest(prompt="a comet", count=15, resolution="4K")
        status = await fake.provider(client).submit(request)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.images) == 15
