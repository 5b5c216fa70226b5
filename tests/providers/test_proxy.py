"""HTTP_PROXY / HTTPS_PROXY / NO_PROXY reach provider calls, and the queued transport stays."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.models import GenerationRequest, TaskState
from bot.providers.http import QueuedTransport, make_http_client, proxy_mounts
from tests.providers.conftest import MakeFake
from tests.providers.servers import ForwardProxy

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy setting of the machine's leaks into these tests (either spelling)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    server = await ForwardProxy().start()
    yield server
    await server.stop()


async def _generate(make_fake: MakeFake, flavor: str = "poyo") -> tuple[str, TaskState]:
    fake = await make_fake(flavor, states=("succeeded",))
    async with make_http_client() as client:
        provider = fake.provider(client)
        queued = await provider.submit(GenerationRequest(prompt="a fox"))
        status = await provider.status(queued.task_id)
    return fake.base_url, status.state


async def test_http_proxy_carries_provider_calls(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, make_fake: MakeFake
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    base, state = await _generate(make_fake)
    assert state is TaskState.SUCCEEDED
    assert [t.split(" ")[0] for t in proxy.targets] == ["POST", "GET"]
    assert all(t.split(" ")[1].startswith(base) for t in proxy.targets)  # absolute form


async def test_lower_case_and_all_proxy_spellings_work_too(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, make_fake: MakeFake
) -> None:
    monkeypatch.setenv("all_proxy", proxy.url.removeprefix("http://"))  # scheme-less, as curl
    _, state = await _generate(make_fake, "apikley")
    assert state is TaskState.SUCCEEDED
    assert len(proxy.targets) == 2


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "example.org, 127.0.0.1"]
)
async def test_no_proxy_bypasses_the_proxy(
    no_proxy: str, monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, make_fake: MakeFake
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    _, state = await _generate(make_fake)
    assert state is TaskState.SUCCEEDED
    assert proxy.targets == []


async def test_no_proxy_for_another_host_still_proxies(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, make_fake: MakeFake
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.org,10.0.0.1")
    _, state = await _generate(make_fake)
    assert state is TaskState.SUCCEEDED
    assert len(proxy.targets) == 2


def test_each_proxy_is_wrapped_in_the_queued_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example,10.1.2.3,::1,192.168.0.0/16")
    mounts = proxy_mounts()
    assert isinstance(mounts["https://"], QueuedTransport)
    assert isinstance(mounts["http://"], QueuedTransport)
    bypassed = {pattern for pattern, transport in mounts.items() if transport is None}
    assert bypassed == {
        "all://localhost",
        "all://*.corp.example",
        "all://10.1.2.3",
        "all://[::1]",
        "all://192.168.0.0/16",
    }


def test_without_proxy_variables_there_are_no_mounts() -> None:
    assert proxy_mounts() == {}


async def test_a_given_transport_ignores_the_environment_as_httpx_does(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, make_fake: MakeFake
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    fake = await make_fake("poyo")
    async with make_http_client(transport=httpx.AsyncHTTPTransport()) as client:
        await fake.provider(client).submit(GenerationRequest(prompt="a fox"))
    assert proxy.targets == []
