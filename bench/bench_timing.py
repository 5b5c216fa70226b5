"""Benchmark: learned task timing — polls placed around the expected finish, and the estimate.

Run with ``.venv/bin/python -m bench.bench_timing [--scenarios polling10,status30,eta]``. Not part
of the test suite. The bot runs in its own process (``bench.bothost``) with every setting at its
default; fake Discord and fake PoYo here. Each scenario runs rounds of 20 jobs, one per member,
all sent at once; a round starts when the one before is delivered, so the bot has learned from
it (the history is the last 20 tasks of a kind).

* ``polling10``: tasks of 10 s, polling (no ``PUBLIC_URL``). Two rounds build the history (the
  first polls on the default schedule, with nothing learned yet); the third is measured.
  Figure: median end-to-end / task time. Target ≤ 1.05.
* ``status30``: tasks of 30 s, polling; two rounds of history, the third measured. Figure:
  status requests per job. Target ≤ 5.
* ``eta``: task times drawn from a normal distribution (mean 12 s, sd 1.5 s, seeded), callbacks
  on; one round of history, the next measured. Figure: median absolute error of the estimate
  the card first shows ("about 12 s") against the task's own time. Target ≤ 20 %.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics

from bench.adaptive_support import Round, run_round, task_durations
from bench.support import DEFAULTS, add_members, bot_process, fakes, print_header, verdict
from tests.providers.fakes import Script

SCENARIOS = ("polling10", "status30", "eta")
MEMBERS = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--latency", type=float, default=0.1, help="provider API latency, s")
    return parser.parse_args()


def ratios(result: Round, task: float) -> list[float]:
    return [
        (result.delivered[i] - result.dispatched[i]) / task
        for i in result.delivered
        if i in result.dispatched
    ]


async def polling10(args: argparse.Namespace) -> str:
    task = 10.0
    script = Script(latency=args.latency, finish_after=task, callbacks=False)
    async with fakes(latency=args.latency, finish_after=task, script=script) as (d, p, stamps):
        members = add_members(d, MEMBERS)
        async with bot_process(d, p, callbacks=False, limits=DEFAULTS):
            medians = []
            for name in ("warma", "warmb", "measured"):
                before = p.count("status")
                result = await run_round(d, stamps, members, MEMBERS, label=name, timeout=120)
                median = statistics.median(ratios(result, task))
                medians.append(median)
                print(
                    f"polling10 round {name}: median ratio {median:.3f}, "
                    f"{(p.count('status') - before) / MEMBERS:.2f} status requests per job"
                )
    return (
        f"RESULT polling, task {task:g} s, with history: median ratio {medians[-1]:.3f} "
        f"(target ≤ 1.05: {verdict(medians[-1] <= 1.05)}); without (first round) {medians[0]:.3f}"
    )


async def status30(args: argparse.Namespace) -> str:
    task = 30.0
    script = Script(latency=args.latency, finish_after=task, callbacks=False)
    async with fakes(latency=args.latency, finish_after=task, script=script) as (d, p, stamps):
        members = add_members(d, MEMBERS)
        async with bot_process(d, p, callbacks=False, limits=DEFAULTS):
            per_job = []
            for name in ("warma", "warmb", "measured"):
                before = p.count("status")
                result = await run_round(d, stamps, members, MEMBERS, label=name, timeout=200)
                per_job.append((p.count("status") - before) / MEMBERS)
                median = statistics.median(ratios(result, task))
                print(
                    f"status30 round {name}: {per_job[-1]:.2f} status requests per job, "
                    f"median ratio {median:.3f}"
                )
    return (
        f"RESULT status requests for a {task:g} s task after 20 tasks of history: "
        f"{per_job[-1]:.2f} per job (target ≤ 5: {verdict(per_job[-1] <= 5)}); "
        f"with no history {per_job[0]:.2f}"
    )


async def eta(args: argparse.Namespace) -> str:
    draw = random.Random(16)

    def duration() -> float:
        return max(5.0, draw.gauss(12.0, 1.5))

    script = Script(latency=args.latency, duration=duration)
    async with fakes(latency=args.latency, finish_after=0, script=script) as (d, p, stamps):
        members = add_members(d, MEMBERS)
        async with bot_process(d, p, callbacks=True, limits=DEFAULTS):
            history = await run_round(d, stamps, members, MEMBERS, label="history", timeout=120)
            measured = await run_round(d, stamps, members, MEMBERS, label="measured", timeout=120)
    actual = task_durations(p, "measured")
    errors = [
        abs(shown - actual[i][1]) / actual[i][1]
        for i, shown in measured.estimates.items()
        if i in actual
    ]
    print(
        f"eta: history round showed {len(history.estimates)} estimates (none expected); "
        f"measured round {len(measured.estimates)} of {MEMBERS}"
    )
    if errors:
        print(
            f"eta: absolute error median {statistics.median(errors):.1%}, "
            f"max {max(errors):.1%}; task times {min(a for _, a in actual.values()):.1f}-"
            f"{max(a for _, a in actual.values()):.1f} s"
        )
    median = statistics.median(errors) if errors else float("inf")
    ok = median <= 0.20 and len(errors) == MEMBERS
    return (
        f"RESULT ETA after 20 tasks of history: median absolute error {median:.1%} over "
        f"{len(errors)} jobs (target ≤ 20 %: {verdict(ok)})"
    )


async def main() -> None:
    args = parse_args()
    print_header("learned timing", "bench.bench_timing", args)
    runs = {"polling10": polling10, "status30": status30, "eta": eta}
    lines = [await runs[name.strip()](args) for name in args.scenarios.split(",") if name.strip()]
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
