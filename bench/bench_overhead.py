"""Benchmark: end-to-end job time over the provider's own task time, with callbacks and polling.

Run with ``.venv/bin/python -m bench.bench_overhead [--jobs 100] [--task-seconds 30] ...``.
Not part of the test suite. The real bot runs in a child process (``bench.bothost``, real
``PollSchedule``) against the fake Discord and a fake PoYo in this process (see
``bench/support.py``). ``--jobs`` ``/imagine`` interactions arrive at ``--rate`` per second
and run concurrently; each provider task takes exactly ``--task-seconds`` from its submission.

Per job, end-to-end is the time from the fake gateway sending ``INTERACTION_CREATE`` to the
fake having accepted the request that put the images on the job's card; the ratio divides it
by ``--task-seconds``. Mode ``callbacks`` sets ``PUBLIC_URL`` to the bot's own web server, and
the fake POSTs PoYo's callback when a task finishes; mode ``polling`` leaves it unset.
Targets: median ratio ≤ 1.05 with callbacks, ≤ 1.10 polling; ≤ 8 status requests per 30 s job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from dataclasses import dataclass

from bench.support import (
    LoopLag,
    add_members,
    bot_cpu,
    bot_lag,
    bot_process,
    card_ids,
    dispatch_imagines,
    fakes,
    job_id_of,
    lag_between,
    percentile,
    print_header,
    summary_ms,
    verdict,
    wait_until,
)
from bot.jobs.waiting import DEFAULT_SCHEDULE

TARGETS = {"callbacks": 1.05, "polling": 1.10}
MAX_STATUS_PER_JOB = 8
PROMPT_INDEX = re.compile(r"bench (\d+):")


@dataclass
class ModeResult:
    mode: str
    ratios: list[float]
    before_task: list[float]
    after_task: list[float]
    status_per_job: float
    missing: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100, help="concurrent jobs per mode")
    parser.add_argument("--task-seconds", type=float, default=30.0, help="provider task time")
    parser.add_argument("--latency", type=float, default=0.1, help="provider API latency, s")
    parser.add_argument("--rate", type=float, default=50.0, help="interactions/s arriving")
    parser.add_argument("--members", type=int, default=20, help="members sending commands")
    parser.add_argument(
        "--modes", default="callbacks,polling", help="comma-separated: callbacks, polling"
    )
    return parser.parse_args()


def polls_needed(task_seconds: float) -> int:
    """Polls the real default schedule makes until one comes after the task finished."""
    elapsed = 0.0
    for polls, delay in enumerate(DEFAULT_SCHEDULE.delays(), start=1):
        elapsed += delay
        if elapsed >= task_seconds:
            return polls
    raise AssertionError("unreachable")


async def run_mode(mode: str, args: argparse.Namespace) -> ModeResult:
    callbacks = mode == "callbacks"
    async with fakes(latency=args.latency, finish_after=args.task_seconds, callbacks=callbacks) as (
        discord,
        provider,
        stamps,
    ):
        members = add_members(discord, args.members)
        driver = LoopLag()
        driver.start()
        async with bot_process(discord, provider, callbacks=callbacks) as bot:
            start = time.monotonic()
            handles = await dispatch_imagines(discord, members, args.jobs, rate=args.rate)
            results: dict[str, float] = {}

            def all_delivered() -> bool:
                cards = card_ids(discord)
                for handle in handles:
                    job_id = job_id_of(handle)
                    if job_id is None or job_id in results:
                        continue
                    card = cards.get(job_id)
                    if card is not None and card in stamps.files:
                        results[job_id] = stamps.files[card]
                return len(results) == len(handles)

            await wait_until(
                all_delivered,
                timeout=args.task_seconds * 3 + 60,
                every=0.25,
                what=f"{args.jobs} results",
            )
            end = time.monotonic()
        await driver.stop()

    tasks_by_index: dict[int, float] = {}
    for task in provider.tasks.values():
        if match := PROMPT_INDEX.search(json.dumps(task.body)):
            tasks_by_index[int(match.group(1))] = task.created
    ratios: list[float] = []
    before: list[float] = []
    after: list[float] = []
    missing = 0
    for index, handle in enumerate(handles):
        job_id = job_id_of(handle)
        if job_id is None or job_id not in results or handle.id not in stamps.dispatched:
            missing += 1
            continue
        dispatched = stamps.dispatched[handle.id]
        delivered = results[job_id]
        ratios.append((delivered - dispatched) / args.task_seconds)
        if index in tasks_by_index:
            submitted = tasks_by_index[index]
            before.append(submitted - dispatched)
            after.append(delivered - (submitted + args.task_seconds))
    statuses = provider.count("status")
    callbacks_ok = sum(1 for _, status in provider.callbacks_sent if status == 200)
    print(f"-- mode {mode}: {len(ratios)} of {args.jobs} jobs delivered in {end - start:.1f} s")
    if callbacks:
        print(f"callbacks POSTed: {len(provider.callbacks_sent)}, answered 200: {callbacks_ok}")
    print(f"dispatch → provider task created: {summary_ms(before)}")
    print(f"provider task finished → result posted: {summary_ms(after)}")
    print(f"status requests: {statuses} for {args.jobs} jobs = {statuses / args.jobs:.2f} per job")
    print(
        "ratio end-to-end / task time: "
        f"median {percentile(ratios, 50):.3f}, p90 {percentile(ratios, 90):.3f}, "
        f"max {max(ratios):.3f}"
    )
    print(f"bot loop lag during the run: {summary_ms(bot_lag(bot, start, end))}")
    print(f"driver (fakes) loop lag: {summary_ms(lag_between(driver.samples, start, end))}")
    print(bot_cpu(bot))
    return ModeResult(mode, ratios, before, after, statuses / args.jobs, missing)


async def main() -> None:
    args = parse_args()
    print_header("overhead ratio", "bench.bench_overhead", args)
    outcomes = [await run_mode(mode.strip(), args) for mode in args.modes.split(",")]
    schedule_polls = polls_needed(args.task_seconds)
    print(
        f"the default PollSchedule needs {schedule_polls} polls to see a "
        f"{args.task_seconds:g} s task finish (the status target is for 30 s tasks)"
    )
    for result in outcomes:
        target = TARGETS[result.mode]
        median = percentile(result.ratios, 50)
        print(
            f"RESULT {result.mode}: median ratio {median:.3f} "
            f"(target ≤ {target:.2f}: {verdict(median <= target)}); "
            f"{result.status_per_job:.2f} status requests per job"
            + (
                f" (target ≤ {MAX_STATUS_PER_JOB}: "
                f"{verdict(result.status_per_job <= MAX_STATUS_PER_JOB)})"
                if args.task_seconds == 30
                else ""
            )
            + (f"; {result.missing} jobs MISSING" if result.missing else "")
        )


if __name__ == "__main__":
    asyncio.run(main())
