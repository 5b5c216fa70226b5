"""Benchmark: how long one blocklist check takes inside the reservation transaction.

Run with ``.venv/bin/python -m bench.bench_blocklist [--terms 200] [--rounds 200]``. Not part
of the test suite. ``find_blocked_term`` runs on the database thread inside ``BEGIN
IMMEDIATE`` for every job, so it holds up every other reservation while it runs. It is timed
on 4,000-character prompts (the longest any provider takes): ordinary text, look-alike
Unicode, and the worst cases for split-letter matching ("a b a b ...", "a.b.a.b..."),
against a blocklist of ``--terms`` random words plus one 100-character term.

Target: p99 ≤ 10 ms for each kind of prompt (a 2-core machine shared with other work).
"""

from __future__ import annotations

import argparse
import random
import string
import time

from bench.support import percentile, print_header, verdict
from bot.quotas.rules import find_blocked_term

TARGET_MS = 10.0
PROMPT_MAX = 4000


def prompts() -> dict[str, str]:
    """The prompts timed, each cut to ``PROMPT_MAX`` characters."""
    texts = {
        "ordinary": "a cinematic portrait of a red fox in a birch forest, golden hour, 35mm. ",
        "look-alike": "ａ пu\u200bdе ɢᴜɴ 𝐧𝐮𝐝𝐞 ΝΑΚΕD n.u.d.e big\u00a0bad ",
        "spaced letters": "a b ",
        "dotted letters": "a.b.",
    }
    return {name: (text * PROMPT_MAX)[:PROMPT_MAX] for name, text in texts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--terms", type=int, default=200, help="blocklist size")
    parser.add_argument("--rounds", type=int, default=200, help="checks timed per prompt")
    args = parser.parse_args()
    print_header("blocklist check", "bench.bench_blocklist", args)
    rng = random.Random(7)
    terms = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
        for _ in range(args.terms)
    ]
    terms += ["ab" * 50, "zz top"]  # a 100-character term the worst cases nearly spell
    started = time.perf_counter()
    find_blocked_term("warm-up", terms)
    print(f"compile {args.terms + 2} terms: {(time.perf_counter() - started) * 1000:.2f} ms")
    results = []
    for name, prompt in prompts().items():
        samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            find_blocked_term(prompt, terms)
            samples.append((time.perf_counter() - started) * 1000)
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        ok = p99 <= TARGET_MS
        print(f"{name:15} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (target ≤ {TARGET_MS} ms)")
        results.append(f"{name} p99 {p99:.2f} ms ({verdict(ok)})")
    print(f"RESULT blocklist check on {PROMPT_MAX:,}-character prompts: {'; '.join(results)}")


if __name__ == "__main__":
    main()
