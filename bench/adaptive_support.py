"""What the adaptive-concurrency and timing benchmarks share: a round of jobs, measured."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from bench.support import card_ids, dispatch_imagines, job_id_of, wait_until
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import FakeMember
from tests.providers.fakes import FakeProvider

PROMPT = re.compile(r"(\w+) (\d+): a lighthouse")
ESTIMATE = re.compile(r"\(about (\d+) (s|min)\)$")


@dataclass
class Round:
    """One round of ``/imagine``: when each job was dispatched and delivered."""

    label: str
    started: float
    dispatched: dict[int, float] = field(default_factory=dict)  # index -> time
    delivered: dict[int, float] = field(default_factory=dict)
    job_ids: dict[int, str] = field(default_factory=dict)
    #: the first estimate each job's card showed, seconds
    estimates: dict[int, float] = field(default_factory=dict)
    ended: float = 0.0

    @property
    def missing(self) -> int:
        return len(self.dispatched) - len(self.delivered)


async def run_round(
    discord: FakeDiscord,
    stamps: object,
    members: list[FakeMember],
    count: int,
    *,
    label: str,
    rate: float = 1000.0,
    timeout: float = 300.0,
) -> Round:
    """Send ``count`` ``/imagine`` (round-robin over ``members``), wait for every result."""
    started = time.monotonic()
    handles = await dispatch_imagines(discord, members, count, rate=rate, label=label)
    result = Round(label, started)
    for index, handle in enumerate(handles):
        result.dispatched[index] = stamps.dispatched[handle.id]  # type: ignore[attr-defined]

    def done() -> bool:
        cards = card_ids(discord)
        by_card = {card: job for job, card in cards.items()}
        for message in discord.messages(discord.channel):
            job = by_card.get(message.id)
            for embed in message.embeds:
                match = ESTIMATE.search(embed.get("title", ""))
                if job is not None and match:
                    index = _index_of(result, job)
                    if index is not None and index not in result.estimates:
                        unit = 60 if match.group(2) == "min" else 1
                        result.estimates[index] = float(match.group(1)) * unit
        for index, handle in enumerate(handles):
            if index in result.delivered:
                continue
            job_id = result.job_ids.get(index) or job_id_of(handle)
            if job_id is None:
                continue
            result.job_ids[index] = job_id
            card = cards.get(job_id)
            files = stamps.files  # type: ignore[attr-defined]
            if card is not None and card in files:
                result.delivered[index] = files[card]
        return len(result.delivered) == count

    await wait_until(done, timeout=timeout, every=0.05, what=f"{count} results ({label})")
    result.ended = time.monotonic()
    return result


def _index_of(result: Round, job_id: str) -> int | None:
    for index, known in result.job_ids.items():
        if known == job_id:
            return index
    return None


def task_durations(provider: FakeProvider, label: str) -> dict[int, tuple[float, float]]:
    """Index -> (created, duration) of the fake's tasks for the round ``label``."""
    found: dict[int, tuple[float, float]] = {}
    for task in provider.tasks.values():
        match = PROMPT.search(json.dumps(task.body))
        if match and match.group(1) == label and task.duration is not None:
            found[int(match.group(2))] = (task.created, task.duration)
    return found
