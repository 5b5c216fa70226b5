"""What the bot benchmarks share: the fakes with timestamps, the bot process, statistics.

Layout of a bot benchmark (two processes, so neither side's CPU use pollutes the other's):

* this process (the *driver*) runs the fake Discord (``tests.fakes.FakeDiscord``) and a
  fake PoYo (``tests.providers.fakes.FakeProvider`` in time mode) and plays the members;
* the bot runs in a child process, ``python -m bench.bothost``: the real ``seedream-bot run``
  start-up (settings from the environment, real ``PollSchedule``, real engine defaults) with
  a loop-lag sampler in its event loop; RSS is read from ``/proc/<pid>/status``.

Timestamps are ``time.monotonic()`` (CLOCK_MONOTONIC, shared by both processes on Linux):

* *dispatched*: just before the fake gateway sends an ``INTERACTION_CREATE`` frame;
* *acked*: when the fake's HTTP server starts handling ``POST /interactions/{id}/{token}/
  callback`` (the bot's first interaction response);
* *files*: when the fake has answered a request that put attachments on a message (the
  result: the card edited with its images, or a new message with them).

They come from wrappers installed around the fake's gateway ``dispatch`` and HTTP entry point,
so the fakes themselves are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench.bothost import STATS_ENV, vm_status
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_models import FakeMember
from tests.providers.fakes import FakeProvider, Script

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-discord-token"
JOB_ID = re.compile(r"`([a-z2-7]{8})`")
FOOTER_JOB = re.compile(r"Job ([a-z2-7]{8})$")
CALLBACK_PATH = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
MESSAGE_PATH = re.compile(r"/channels/\d+/messages/(\d+)$")
NEW_MESSAGE_PATH = re.compile(r"/channels/\d+/messages$")


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values: Sequence[float]) -> str:
    """``n, p50, p90, p99, max`` of seconds, printed in milliseconds."""
    if not values:
        return "n=0"
    return (
        f"n={len(values)} p50 {percentile(values, 50) * 1000:.1f} ms, "
        f"p90 {percentile(values, 90) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms,"
        f" max {max(values) * 1000:.1f} ms"
    )


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# --------------------------------------------------------------------------- the machine


def machine_info() -> dict[str, str]:
    """CPU model, cores, memory and Python of this machine (for the report)."""
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def print_header(title: str, module: str, args: Any) -> None:
    info = machine_info()
    print(f"== {title}")
    print(
        f"machine: {info['cpu']}, {info['nproc']} cores, {info['memory']}, "
        f"Python {info['python']}, Linux {info['kernel']}"
    )
    print(f"command: .venv/bin/python -m {module} {' '.join(sys.argv[1:])}".rstrip())
    print(f"options: {vars(args)}")
    print(f"load average before the run: {load_average()} (other processes share the CPUs)")


def load_average() -> str:
    """1, 5 and 15 minute load averages from /proc/loadavg."""
    with contextlib.suppress(OSError), open("/proc/loadavg", encoding="ascii") as loadavg:
        return " ".join(loadavg.read().split()[:3])
    return "unknown"


# --------------------------------------------------------------------------- the fakes


@dataclass
class Stamps:
    """Monotonic timestamps the instrumented fake Discord recorded."""

    dispatched: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    files: dict[int, float] = field(default_factory=dict)


def instrument(fake: FakeDiscord) -> Stamps:
    """Wrap the fake's gateway dispatch and HTTP entry point; call before ``fake.start()``."""
    stamps = Stamps()
    send = fake.gateway.dispatch
    handle = fake.rest.handle

    async def dispatch(shard_id: int, event: str, data: Any) -> int:
        if event == "INTERACTION_CREATE":
            stamps.dispatched[int(data["id"])] = time.monotonic()
        return await send(shard_id, event, data)

    async def timed(request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        if request.method == "POST" and (match := CALLBACK_PATH.search(request.path)):
            stamps.acked.setdefault(int(match.group(1)), started)
        response = await handle(request)
        if response.status == 200 and request.content_type == "multipart/form-data":
            message_id = _message_with_files(request, response)
            if message_id is not None:
                stamps.files.setdefault(message_id, time.monotonic())
        return response

    fake.gateway.dispatch = dispatch  # type: ignore[method-assign]
    fake.rest.handle = timed  # type: ignore[method-assign]
    return stamps


def _message_with_files(request: web.Request, response: web.StreamResponse) -> int | None:
    if request.method == "PATCH" and (match := MESSAGE_PATH.search(request.path)):
        return int(match.group(1))
    if request.method == "POST" and NEW_MESSAGE_PATH.search(request.path):
        body = getattr(response, "body", None)
        if isinstance(body, bytes | bytearray):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return int(json.loads(body)["id"])
    return None


async def _no_settle(timeout: float = 5.0) -> None:
    """Replaces ``FakeDiscord.settle``: members don't wait for the bot to be idle."""


@contextlib.asynccontextmanager
async def fakes(
    *,
    latency: float,
    finish_after: float,
    callbacks: bool = True,
    flavor: str = "poyo",
    script: Script | None = None,
) -> AsyncIterator[tuple[FakeDiscord, FakeProvider, Stamps]]:
    """A started fake Discord (instrumented) and fake provider (PoYo unless ``flavor``) whose
    tasks take ``finish_after``; ``script`` replaces the whole script."""
    discord = FakeDiscord()
    stamps = instrument(discord)
    # settle() waits until no request is in flight: never true for long under load
    discord.settle = _no_settle  # type: ignore[method-assign]
    script = script or Script(latency=latency, finish_after=finish_after, callbacks=callbacks)
    async with discord, FakeProvider(flavor, script=script) as provider:
        yield discord, provider, stamps


def add_members(discord: FakeDiscord, count: int) -> list[FakeMember]:
    return [discord.add_member(name=f"member{i}") for i in range(count)]


async def dispatch_imagines(
    discord: FakeDiscord,
    members: Sequence[FakeMember],
    count: int,
    *,
    rate: float,
    label: str = "bench",
) -> list[InteractionHandle]:
    """``/imagine`` ``count`` times, round-robin over ``members``, ``rate`` per second."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    handles: list[InteractionHandle] = []
    for i in range(count):
        due = start + i / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        member = members[i % len(members)]
        prompt = f"{label} {i}: a lighthouse on a cliff at dusk, oil painting"
        handles.append(await discord.slash("imagine", user=member, options={"prompt": prompt}))
    return handles


def job_id_of(handle: InteractionHandle) -> str | None:
    """The job id the bot quoted in its (ephemeral) answer to the interaction."""
    texts = [m.content for m in handle.followups] + [m.content for m in handle.edits]
    if handle.original is not None:
        texts.append(handle.original.content)
    for text in texts:
        if text and (match := JOB_ID.search(text)):
            return match.group(1)
    return None


def card_ids(discord: FakeDiscord) -> dict[str, int]:
    """Job id -> id of the channel message whose embed footer names it (its card)."""
    found: dict[str, int] = {}
    for message in discord.messages(discord.channel):
        for embed in message.embeds:
            text = (embed.get("footer") or {}).get("text", "")
            if match := FOOTER_JOB.search(text):
                found.setdefault(match.group(1), message.id)
    return found


async def wait_until(
    predicate: Callable[[], Any], timeout: float, *, every: float = 0.1, what: str = ""
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(every)


class LoopLag:
    """The driver's own loop lag (its timestamps are only as good as its loop is idle)."""

    def __init__(self, tick: float = 0.010) -> None:
        self.tick = tick
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            after = loop.time()
            self.samples.append((after, after - before - self.tick))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def lag_between(samples: Sequence[Sequence[float]], start: float, end: float) -> list[float]:
    return [lag for stamp, lag in samples if start <= stamp <= end]


# --------------------------------------------------------------------------- the bot process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotLimits:
    """Settings that keep quotas and per-member limits out of a load test's way; a field set
    to None leaves the bot's default (``DEFAULTS``: the bot exactly as shipped)."""

    max_jobs_per_user: int | None = 100_000
    default_daily_quota: int | None = 1_000_000
    provider_concurrency: int | None = 100_000


#: every limit at the bot's default
DEFAULTS = BotLimits(None, None, None)


@dataclass
class BotProcess:
    """The running ``bench.bothost`` child."""

    process: asyncio.subprocess.Process
    port: int
    workdir: Path
    stats_path: Path
    log_path: Path
    ready_at: float = 0.0
    ready_vm: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def vm(self) -> dict[str, int]:
        return vm_status(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        return ""

    def count_log(self, needle: str) -> int:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace").count(needle)
        return 0


@contextlib.asynccontextmanager
async def bot_process(
    discord: FakeDiscord,
    provider: FakeProvider,
    *,
    callbacks: bool = False,
    limits: BotLimits | None = None,
    log_level: str = "INFO",
    keep: bool = False,
) -> AsyncIterator[BotProcess]:
    """Start ``python -m bench.bothost`` against the fakes; SIGTERM it on exit."""
    limits = limits or BotLimits()
    workdir = Path(tempfile.mkdtemp(prefix="seedream-bench-"))
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_TOKEN", "_BASE_URL", "_MODEL")) and key != "PROVIDERS"
    }
    env.update(
        provider.env(),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("BENCH_PYTHONPATH")])),
        PROVIDERS=provider.flavor,
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_BASE=discord.api_base,
        DATABASE_PATH=str(workdir / "data" / "bot.sqlite3"),
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        METRICS_PORT="0",
        PUBLIC_URL=f"http://127.0.0.1:{port}" if callbacks else "",
        LOG_LEVEL=log_level,
        **{STATS_ENV: str(workdir / "stats.json")},
    )
    for name in (
        "MAX_JOBS_PER_USER",
        "DEFAULT_DAILY_QUOTA",
        "MAX_DAILY_QUOTA",
        "PROVIDER_CONCURRENCY",
    ):
        env.pop(name, None)
    lifted = {
        "MAX_JOBS_PER_USER": limits.max_jobs_per_user,
        "DEFAULT_DAILY_QUOTA": limits.default_daily_quota,
        # the ceiling must cover the lifted allowance, or the bot refuses to start
        "MAX_DAILY_QUOTA": limits.default_daily_quota,
        "PROVIDER_CONCURRENCY": limits.provider_concurrency,
    }
    env.update({name: str(value) for name, value in lifted.items() if value is not None})
    log_path = workdir / "bot.log"
    with open(log_path, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bothost",
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    bot = BotProcess(process, port, workdir, workdir / "stats.json", log_path)
    try:
        await _wait_ready(bot, discord)
        bot.ready_at = time.monotonic()
        bot.ready_vm = bot.vm()
        yield bot
    except BaseException:
        print(f"bot log tail ({log_path}):\n{bot.log_tail()}", file=sys.stderr)
        raise
    finally:
        await _stop(bot)
        if os.environ.get("BENCH_KEEP"):
            print(f"bot files kept in {workdir}")
        if not keep and not os.environ.get("BENCH_KEEP") and process.returncode == 0:
            shutil.rmtree(workdir, ignore_errors=True)


async def _wait_ready(bot: BotProcess, discord: FakeDiscord, timeout: float = 60.0) -> None:
    async def exited() -> None:
        await bot.process.wait()
        raise RuntimeError(f"the bot exited with {bot.process.returncode} before it was ready")

    async def ready() -> None:
        await discord.wait_ready(timeout)
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    answer = await client.get(f"http://127.0.0.1:{bot.port}/healthz")
                    if answer.status_code == 200 and discord.commands():
                        return
                await asyncio.sleep(0.1)

    death = asyncio.create_task(exited())
    try:
        async with asyncio.timeout(timeout):
            done, _ = await asyncio.wait(
                {death, asyncio.create_task(ready())}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
    finally:
        death.cancel()
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await death


async def _stop(bot: BotProcess) -> None:
    if bot.process.returncode is None:
        bot.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(bot.process.wait(), 20)
        except TimeoutError:
            bot.process.kill()
            await bot.process.wait()
    with contextlib.suppress(OSError, ValueError):
        bot.stats = json.loads(bot.stats_path.read_text(encoding="utf-8"))


async def profile(bot: BotProcess, seconds: float) -> asyncio.subprocess.Process | None:
    """With ``BENCH_PYSPY=<file>``, sample the bot with py-spy for ``seconds`` (raw stacks)."""
    target = os.environ.get("BENCH_PYSPY")
    if not target:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "-p",
        str(bot.pid),
        "-d",
        str(max(1, int(seconds))),
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        target,
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
    )


async def finish_profile(spy: asyncio.subprocess.Process | None) -> None:
    if spy is not None:
        await spy.wait()
        print(f"py-spy profile written to {os.environ.get('BENCH_PYSPY')}")


def bot_cpu(bot: BotProcess) -> str:
    """CPU time the bot process used, from its own getrusage at exit."""
    return (
        f"bot CPU: {bot.stats.get('cpu_user', 0):.1f} s user, "
        f"{bot.stats.get('cpu_system', 0):.1f} s system"
    )


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def bot_lag(bot: BotProcess, start: float, end: float) -> list[float]:
    """The bot's loop-lag samples between two driver timestamps."""
    return lag_between(bot.stats.get("lag", []), start, end)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
