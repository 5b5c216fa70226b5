"""Callback bodies: parsed as hints, delivered by the fakes, and confirmed through status()."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.core.errors import RejectedRequestError
from bot.core.request import GenerationRequest, TaskState
from bot.jobs.waiting import PollSchedule, wait_for_task
from tests.providers.conftest import SYNCHRONOUS, TASK_BASED, MakeFake

SLOW = PollSchedule(first=30.0, interval=30.0)


class Receiver:
    """A callback endpoint: stores bodies and sets ``wake``, like the bot's web route."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.wake = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.wake.set()
        return web.json_response({"code": 200, "msg": "success"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/callbacks/{provider}", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.url = f"http://127.0.0.1:{runner.addresses[0][1]}/callbacks/x"
    yield recv
    await runner.cleanup()


#: Vidgo calls https:// receivers only; the receiver here is plain http (see below)
HTTP_CALLBACKS = [flavor for flavor in TASK_BASED if flavor != "vidgo"]


@pytest.mark.parametrize("flavor", HTTP_CALLBACKS)
@pytest.mark.parametrize("fail", [None, "Internal server error"])
async def test_callback_wakes_the_wait_and_parses(
    flavor: str,
    fail: str | None,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    fake = await make_fake(flavor, finish_after=0.05, fail=fail)
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"), callback_url=receiver.url)
    loop = asyncio.get_running_loop()
    started = loop.time()
    final = await wait_for_task(provider, task.task_id, wake=receiver.wake, schedule=SLOW)
    assert loop.time() - started < 5  # the 30 s schedule was cut short by the callback
    assert final.state is (TaskState.FAILED if fail else TaskState.SUCCEEDED)
    assert fake.callbacks_sent == [(receiver.url, 200)]
    hint = provider.parse_callback(receiver.bodies[0])
    assert hint.task_id == task.task_id
    assert hint.state is final.state


@pytest.mark.parametrize("fail", [None, "Internal server error"])
async def test_vidgo_is_given_no_http_callback_and_parses_its_https_one(
    fail: str | None, make_fake: MakeFake, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    fake = await make_fake("vidgo", finish_after=0.05, fail=fail)
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"), callback_url=receiver.url)
    # "Receiver rules: HTTPS only" (PROVIDERS.md §2, V4): the job polls instead
    assert "callback_url" not in fake.last("submit").body
    await fake.finish(task.task_id)
    final = await provider.status(task.task_id)
    assert final.state is (TaskState.FAILED if fail else TaskState.SUCCEEDED)
    assert fake.callbacks_sent == []
    hint = provider.parse_callback(fake.callback_body(task.task_id))
    assert hint.task_id == task.task_id
    assert hint.state is final.state


@pytest.mark.parametrize("flavor", TASK_BASED)
async def test_no_callback_when_disabled(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    fake = await make_fake(flavor, callbacks=False, finish_after=0.01)
    provider = fake.provider(client)
    await provider.submit(GenerationRequest(prompt="a fox"), callback_url=receiver.url)
    await asyncio.sleep(0.05)
    assert fake.callbacks_sent == []


@pytest.mark.parametrize(
    ("flavor", "body", "task_id", "state"),
    [
        ("poyo", {"code": 200, "data": {"task_id": "t1", "status": "finished"}}, "t1",
         TaskState.SUCCEEDED),
        ("vidgo", {"code": 200, "data": {"task_id": "t2", "status": "failed", "files": [],
                                          "error_message": "violates our content policy"}},
         "t2", TaskState.FAILED),
        ("poyo", {"task_id": "t3", "status": "running"}, "t3", TaskState.RUNNING),
        ("poyo", {"data": {"task_id": "t4"}}, "t4", None),
        ("apikley", {"code": 200, "msg": "Playground task completed successfully.",
                     "data": {"taskId": "k1", "state": "success"}}, "k1", TaskState.SUCCEEDED),
        ("apikley", {"code": 501, "msg": "Playground task failed.",
                     "data": {"taskId": "k2", "state": "fail", "failCode": "500",
                              "failMsg": "Internal server error", "resultJson": None}},
         "k2", TaskState.FAILED),
        ("apikley", {"code": 501, "data": {"taskId": "k3"}}, "k3", TaskState.FAILED),
        ("apikley", {"code": 200, "data": {"taskId": "k4"}}, "k4", TaskState.SUCCEEDED),
    ],
)  # fmt: skip
async def test_parse_callback_shapes(
    flavor: str,
    body: dict[str, object],
    task_id: str,
    state: TaskState | None,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    provider = (await make_fake(flavor)).provider(client)
    hint = provider.parse_callback(json.dumps(body).encode())
    assert hint.task_id == task_id
    assert hint.state is state


@pytest.mark.parametrize("flavor", TASK_BASED)
@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"code": 200', b"[1, 2]", b"{}", b'{"data": {"status": "finished"}}',
     b'{"data": {"task_id": 12, "taskId": 12}}'],
)  # fmt: skip
async def test_malformed_callback_is_rejected(
    flavor: str, body: bytes, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    provider = (await make_fake(flavor)).provider(client)
    with pytest.raises(RejectedRequestError, match="Malformed"):
        provider.parse_callback(body)


@pytest.mark.parametrize("flavor", TASK_BASED)
async def test_fake_callback_body_round_trips(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    provider = fake.provider(client)
    task = await provider.submit(GenerationRequest(prompt="a fox"))
    hint = provider.parse_callback(fake.callback_body(task.task_id))
    assert hint.task_id == task.task_id
    assert hint.state is TaskState.SUCCEEDED
    assert provider.capabilities.callbacks


@pytest.mark.parametrize("flavor", SYNCHRONOUS)
async def test_synchronous_providers_take_no_callbacks(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    provider = (await make_fake(flavor)).provider(client)
    with pytest.raises(NotImplementedError):
        provider.parse_callback(b"{}")
