"""The bot process of the benchmarks: exactly ``seedream-bot run``, plus a loop-lag sampler.

``python -m bench.bothost`` reads its settings from the environment only (no ``.env``),
builds the providers as ``bot.cli`` does, and runs ``bot.launcher.run_bot`` — the real start-up
path, the real ``PollSchedule`` and engine defaults — until SIGTERM. Alongside it, a ticker in
the same event loop records how late each 10 ms sleep wakes up. On exit it writes a JSON file
(path in ``BENCH_STATS_FILE``) with the lag samples (``time.monotonic()`` stamps, comparable
with the driver process's on Linux), peak and current RSS from ``/proc/self/status`` and the
CPU time used. Nothing here is part of the bot: the bot's code is not touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from bot.config import load_settings
from bot.log import setup_logging
from bot.providers.configure import configured_providers

STATS_ENV = "BENCH_STATS_FILE"
PATCH_ENV = "BENCH_PATCH"
LAG_TICK = 0.010


def vm_status(pid: int | str = "self") -> dict[str, int]:
    """``Vm*`` lines of ``/proc/<pid>/status`` in KiB (VmHWM is the peak RSS)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Vm"):
                name, _, rest = line.partition(":")
                values[name] = int(rest.split()[0])
    return values


class LagSampler:
    """Sleeps ``tick`` seconds over and over; records (wake time, lateness) pairs."""

    def __init__(self, tick: float = LAG_TICK) -> None:
        self.tick = tick
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            after = loop.time()
            self.samples.append((after, after - before - self.tick))


def _experiments(names: str) -> None:
    """Profiling aid (``BENCH_PATCH``): try a change without editing the bot's files."""
    for name in filter(None, (part.strip() for part in names.split(","))):
        if name == "keepalive":
            import httpx

            import bot.providers.transport as provider_http

            provider_http.DEFAULT_LIMITS = httpx.Limits(
                max_connections=provider_http.DEFAULT_LIMITS.max_connections,
                max_keepalive_connections=provider_http.DEFAULT_LIMITS.max_connections,
            )
        elif name == "tracemalloc":
            _trace_on_signal()
        elif name == "ungated":
            import bot.root as root_module

            root_module.make_http_client = _ungated_client  # type: ignore[attr-defined,assignment]
        else:
            raise SystemExit(f"unknown BENCH_PATCH experiment {name!r}")


def _trace_on_signal() -> None:
    """Trace allocations; each SIGUSR1 dumps a snapshot next to ``BENCH_STATS_FILE``."""
    import signal
    import tracemalloc

    tracemalloc.start(int(os.environ.get("BENCH_TRACE_FRAMES", "1")))
    base = os.environ.get(STATS_ENV, "bothost")
    dumped = iter(range(1, 1000))

    def dump(*_: object) -> None:
        tracemalloc.take_snapshot().dump(f"{base}.snap{next(dumped)}")

    signal.signal(signal.SIGUSR1, dump)


def _ungated_client(**options: object) -> object:
    """The client as it was before ``QueuedTransport``: requests queue in httpcore's pool."""
    import httpx

    from bot.providers.transport import DEFAULT_LIMITS, make_http_client, ssl_context

    return make_http_client(
        transport=httpx.AsyncHTTPTransport(verify=ssl_context(), limits=DEFAULT_LIMITS)
    )


async def _run(stats_path: Path | None) -> int:
    _experiments(os.environ.get(PATCH_ENV, ""))
    settings = load_settings(None)
    providers = configured_providers(settings, None)
    token = settings.require_token()
    setup_logging(
        settings.log_level,
        settings.log_format,
        secrets=[token, *(p.api_key.get_secret_value() for p in providers)],
    )
    from bot.launcher import run_bot

    sampler = LagSampler()
    ticker = asyncio.create_task(sampler.run(), name="bench-lag-sampler")
    try:
        code = await run_bot(settings, providers)
    finally:
        ticker.cancel()
        if stats_path is not None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            stats = {
                "pid": os.getpid(),
                "lag_tick": sampler.tick,
                "lag": sampler.samples,
                "vm": vm_status(),
                "cpu_user": usage.ru_utime,
                "cpu_system": usage.ru_stime,
            }
            stats_path.write_text(json.dumps(stats), encoding="utf-8")
    return code


def main() -> int:
    path = os.environ.get(STATS_ENV)
    return asyncio.run(_run(Path(path) if path else None))


if __name__ == "__main__":
    sys.exit(main())
