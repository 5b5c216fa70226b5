"""The SQL fair line against its reference model, the in-memory Scheduler, step by step."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.jobs.fair_line import FairLine, LineLimits
from bot.jobs.scheduler import Scheduler
from bot.storage.postgres.pg_pool import migrate

PROVIDERS = ("alpha", "beta", "gamma")


class Line:
    """A FairLine on its own connection, driven synchronously (hypothesis is synchronous)."""

    def __init__(self, runner: asyncio.Runner, conn: psycopg.AsyncConnection[Any]) -> None:
        self.runner = runner
        self.conn = conn
        self.line = FairLine(LineLimits(1, dict, 1))

    def run(self, op: str, *args: Any) -> Any:
        async def call() -> Any:
            async with self.conn.transaction():
                return await getattr(self.line, op)(self.conn, *args)

        return self.runner.run(call())

    def reset(self, max_per_user: int, provider_limit: int) -> None:
        limits = dict.fromkeys(PROVIDERS[:2], provider_limit)  # the third: the default
        self.line = FairLine(LineLimits(max_per_user, lambda: limits, provider_limit))

        async def truncate() -> None:
            async with self.conn.transaction():
                await self.conn.execute("TRUNCATE cluster_waiting, cluster_turns, cluster_flights")

        self.runner.run(truncate())


@pytest.fixture
def line(pg_url: str) -> Iterator[Line]:
    with asyncio.Runner() as runner:

        async def connect() -> psycopg.AsyncConnection[Any]:
            await migrate(pg_url)  # 0002_cluster.sql among them
            return await psycopg.AsyncConnection.connect(pg_url)

        conn = runner.run(connect())
        try:
            yield Line(runner, conn)
        finally:
            runner.run(conn.close())


# one step: (kind, member, provider, pick) — pick chooses among the jobs the step may touch
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["enqueue", "enqueue", "admit", "admit", "release", "deliver", "cancel", "switch"]
        ),
        st.integers(0, 4),
        st.sampled_from(PROVIDERS),
        st.integers(0, 50),
    ),
    max_size=40,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(max_per_user=st.integers(1, 3), provider_limit=st.integers(1, 3), ops=steps)
def test_sql_line_decides_exactly_like_the_scheduler(
    line: Line, max_per_user: int, provider_limit: int, ops: list[tuple[str, int, str, int]]
) -> None:
    line.reset(max_per_user, provider_limit)
    model = Scheduler(max_per_user=max_per_user, provider_limit=provider_limit)
    waiting: list[str] = []
    flying: list[str] = []
    for number, (kind, member, provider, pick) in enumerate(ops):
        if kind == "enqueue":
            job_id = f"j{number}"
            model.enqueue(job_id, member, provider)
            line.run("enqueue", job_id, member, provider)
            waiting.append(job_id)
        elif kind == "admit":
            expected = model.next_ready()
            assert line.run("admit_next") == expected, f"step {number}"
            if expected is not None:
                waiting.remove(expected.job_id)
                flying.append(expected.job_id)
        elif kind == "cancel" and waiting:
            job_id = waiting.pop(pick % len(waiting))
            assert line.run("remove", job_id) is model.remove(job_id) is True
        elif kind == "release" and flying:
            job_id = flying.pop(pick % len(flying))
            model.release(job_id)
            assert line.run("release", job_id) is True
        elif kind == "deliver" and flying:
            job_id = flying[pick % len(flying)]
            model.release_provider(job_id)
            line.run("release_provider", job_id)
        elif kind == "switch" and flying:
            job_id = flying[pick % len(flying)]
            expected_switch = model.try_switch_provider(job_id, provider)
            assert line.run("try_switch_provider", job_id, provider) is expected_switch
        assert line.run("positions") == model.positions(), f"positions after step {number}"
    # the loads agree at the end too
    per_member, per_provider = line.run("in_flight")
    assert per_member == {u: n for u in range(5) if (n := model.in_flight(u))}
    assert per_provider == {p: n for p in PROVIDERS if (n := model.provider_load(p))}


def test_round_robin_and_limits_in_sql(line: Line) -> None:
    """A fixed example a reader can check by hand (and that fails if turns are ignored)."""
    line.reset(max_per_user=10, provider_limit=1)
    for n in range(3):
        line.run("enqueue", f"a{n}", 1, "alpha")
    for n in range(2):
        line.run("enqueue", f"b{n}", 2, "alpha")
    line.run("enqueue", "c0", 3, "alpha")
    assert line.run("positions") == {"a0": 1, "b0": 2, "c0": 3, "a1": 4, "b1": 5, "a2": 6}
    order = []
    while (dispatch := line.run("admit_next")) is not None:
        order.append(dispatch.job_id)
        assert line.run("admit_next") is None  # the provider's one slot is taken
        line.run("release", dispatch.job_id)
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2"]
