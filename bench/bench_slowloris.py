"""Benchmark: the bot's web server under a slowloris attack.

Run with ``.venv/bin/python -m bench.bench_slowloris [--connections 300] ...``. Not part of
the test suite. The real bot runs in a child process (``bench.bothost``, default web limits:
10 s request deadline, 5 s keep-alive) against the fake Discord and fake PoYo. This process
opens ``--connections`` TCP connections to the bot's public port; each sends a partial
request (nothing, part of a request line, headers without their end, or headers and part
of a declared body) and then, for ``--trickle`` of those that stopped inside their headers
or body, one more byte every second, never finishing. Meanwhile ``/healthz`` is asked
every ``--probe-gap`` seconds on a fresh connection. Targets: every ``/healthz`` answers
within 1 s, and the server has closed every slow connection within 30 s of its opening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import httpx

from bench.support import bot_process, fakes, percentile, print_header, summary_ms, verdict

TARGET_HEALTH = 1.0
TARGET_CLOSED = 30.0

PARTIALS = (
    b"",
    b"GE",
    b"GET /healthz HTTP/1.1\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n",
    b"POST /callbacks/poyo/secret HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n12",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=300, help="slow connections")
    parser.add_argument("--trickle", type=int, default=100, help="of which send a byte a second")
    parser.add_argument("--probe-gap", type=float, default=0.1, help="seconds between probes")
    parser.add_argument("--limit", type=float, default=40.0, help="give up after this many s")
    return parser.parse_args()


async def slow_client(
    port: int, index: int, trickle: bool, opened: list[float]
) -> tuple[int, bool, float]:
    """Its kind, whether it trickled, and seconds until the server closed it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    opened.append(start)
    writer.write(PARTIALS[index % len(PARTIALS)])

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            while trickle:
                await asyncio.sleep(1.0)
                writer.write(b"X")
                await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        return index % len(PARTIALS), trickle, time.monotonic() - start
    finally:
        dripping.cancel()
        writer.close()


async def main() -> None:
    args = parse_args()
    print_header("slowloris: /healthz under slow connections", "bench.bench_slowloris", args)
    async with (
        fakes(latency=0.0, finish_after=1.0) as (discord, provider, _),
        bot_process(discord, provider) as bot,
    ):
        opened: list[float] = []
        # only where another byte keeps the request valid (headers: "X", a body: any byte)
        mid_request = [i for i in range(args.connections) if i % len(PARTIALS) >= 2]
        trickling = set(mid_request[: args.trickle])
        clients = [
            asyncio.create_task(slow_client(bot.port, i, i in trickling, opened))
            for i in range(args.connections)
        ]
        while len(opened) < args.connections and not any(c.done() for c in clients):
            await asyncio.sleep(0.01)
        print(f"{len(opened)} slow connections open in {max(opened) - min(opened):.2f} s")
        probes: list[float] = []
        failures = 0
        async with httpx.AsyncClient(timeout=5.0) as client:
            deadline = time.monotonic() + args.limit
            while not all(c.done() for c in clients) and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    answer = await client.get(
                        f"http://127.0.0.1:{bot.port}/healthz", headers={"Connection": "close"}
                    )
                    failures += answer.status_code != 200
                except httpx.TransportError:
                    failures += 1
                probes.append(time.monotonic() - started)
                await asyncio.sleep(args.probe_gap)
        done, pending = await asyncio.wait(clients, timeout=1)
        for task in pending:
            task.cancel()
        results = [t.result() for t in done if not t.exception()]
        closed_after = sorted(r[2] for r in results)
        for kind in range(len(PARTIALS)):
            for trickled in (False, True):
                times = [r[2] for r in results if r[0] == kind and r[1] == trickled]
                if times:
                    print(
                        f"  {PARTIALS[kind][:30]!r}{' + a byte a second' if trickled else ''}: "
                        f"closed after {min(times):.2f}-{max(times):.2f} s (n={len(times)})"
                    )
    print(f"/healthz while under attack: {summary_ms(probes)}; {failures} failed")
    if closed_after:
        print(
            f"closed by the server after: min {closed_after[0]:.2f} s, "
            f"p50 {percentile(closed_after, 50):.2f} s, max {closed_after[-1]:.2f} s "
            f"({len(closed_after)} of {args.connections})"
        )
    worst = max(probes, default=float("inf"))
    health_ok = failures == 0 and worst <= TARGET_HEALTH
    all_closed = len(closed_after) == args.connections
    slowest = closed_after[-1] if closed_after else float("inf")
    closed_ok = all_closed and slowest <= TARGET_CLOSED
    print(
        f"RESULT /healthz max {worst * 1000:.1f} ms over {len(probes)} probes "
        f"(target ≤ {TARGET_HEALTH * 1000:.0f} ms: {verdict(health_ok)}); "
        f"{len(closed_after)}/{args.connections} slow connections closed, the last after "
        f"{slowest:.1f} s (target ≤ {TARGET_CLOSED:.0f} s: {verdict(closed_ok)})"
    )


if __name__ == "__main__":
    asyncio.run(main())
