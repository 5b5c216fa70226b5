"""Scheduler: member and provider limits, round-robin, queue positions."""

from __future__ import annotations

import pytest

from bot.jobs.scheduler import Scheduler


def drain(s: Scheduler) -> list[str]:
    started = []
    while (d := s.next_ready()) is not None:
        started.append(d.job_id)
    return started


def test_per_user_limit_holds_jobs_back() -> None:
    s = Scheduler(max_per_user=2, provider_limit=8)
    for n in range(4):
        s.enqueue(f"a{n}", 1, "p")
    assert drain(s) == ["a0", "a1"]
    assert s.in_flight(1) == 2
    s.release("a0")
    assert drain(s) == ["a2"]


def test_per_provider_limit_holds_jobs_back() -> None:
    s = Scheduler(max_per_user=5, provider_limit=2)
    for user in (1, 2, 3):
        s.enqueue(f"j{user}", user, "p")
    s.enqueue("q", 4, "other")
    assert drain(s) == ["j1", "j2", "q"]
    assert s.provider_load("p") == 2
    s.release("j1")
    assert drain(s) == ["j3"]


def test_round_robin_between_members() -> None:
    s = Scheduler(max_per_user=10, provider_limit=1)
    for n in range(3):
        s.enqueue(f"a{n}", 1, "p")
    for n in range(2):
        s.enqueue(f"b{n}", 2, "p")
    s.enqueue("c0", 3, "p")
    order = []
    while True:
        d = s.next_ready()
        if d is None:
            break
        order.append(d.job_id)
        s.release(d.job_id)
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2"]


def test_member_at_limit_keeps_place_in_line() -> None:
    s = Scheduler(max_per_user=1, provider_limit=1)
    s.enqueue("a0", 1, "p")
    s.enqueue("a1", 1, "p")
    s.enqueue("b0", 2, "p")
    assert drain(s) == ["a0"]
    s.release("a0")
    # b waited while a ran, so b goes before a's second job
    assert drain(s) == ["b0"]
    s.release("b0")
    assert drain(s) == ["a1"]


def test_positions_interleave_members_and_update() -> None:
    s = Scheduler(max_per_user=1, provider_limit=1)
    s.enqueue("a0", 1, "p")
    s.enqueue("a1", 1, "p")
    s.enqueue("b0", 2, "p")
    assert s.positions() == {"a0": 1, "b0": 2, "a1": 3}
    assert drain(s) == ["a0"]
    assert s.positions() == {"b0": 1, "a1": 2}
    assert s.position("a0") is None
    assert s.remove("b0")
    assert s.positions() == {"a1": 1}
    assert not s.remove("b0")


def test_failover_switches_provider_slot_only_when_free() -> None:
    s = Scheduler(max_per_user=5, provider_limit=1)
    s.enqueue("a", 1, "p")
    s.enqueue("b", 2, "q")
    assert drain(s) == ["a", "b"]
    assert not s.try_switch_provider("a", "q")
    s.release("b")
    assert s.try_switch_provider("a", "q")
    assert s.provider_load("p") == 0
    assert s.provider_load("q") == 1
    s.release_provider("a")
    assert s.provider_load("q") == 0
    s.release("a")
    assert s.in_flight(1) == 0


def test_occupy_counts_resumed_jobs_past_limits() -> None:
    s = Scheduler(max_per_user=1, provider_limit=1)
    s.occupy("r1", 1, "p")
    s.occupy("r2", 1, "p")
    s.enqueue("n", 1, "p")
    assert s.next_ready() is None
    s.release("r1")
    assert s.next_ready() is None
    s.release("r2")
    assert drain(s) == ["n"]


def test_duplicate_enqueue_is_refused() -> None:
    s = Scheduler(max_per_user=1, provider_limit=1)
    s.enqueue("a", 1, "p")
    with pytest.raises(ValueError, match="already"):
        s.enqueue("a", 1, "p")
