"""Run every benchmark one after the other and collect their RESULT lines.

``.venv/bin/python -m bench.run_all [--quick] [--only ack,quota]``: each benchmark runs in its
own process (``python -m bench.<name>``) with its default options, or with small ones under
``--quick`` (a smoke run of about a minute in all, whose figures mean little). The full
output goes to stdout; a summary of the ``RESULT`` lines ends it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.support import ROOT, load_average, machine_info

BENCHMARKS: dict[str, list[str]] = {
    "ack": [],
    "overhead": [],
    "capacity": [],
    "quota": [],
    "image_fit": [],
    "slowloris": [],
    "blocklist": [],
    "references": [],
    "usage_chart": [],
    "adaptive": [],
    "timing": [],
}
QUICK: dict[str, list[str]] = {
    "ack": ["--jobs", "50", "--probes", "50", "--task-seconds", "60"],
    "overhead": ["--jobs", "20", "--task-seconds", "8"],
    "capacity": ["--jobs", "200", "--hold", "10"],
    "quota": ["--ops", "2000"],
    "image_fit": ["--runs", "1", "--side", "2048", "--limit-mib", "2"],
    "slowloris": ["--connections", "100"],
    "blocklist": ["--rounds", "20"],
    "references": ["--formats", "jpeg", "--side", "4096"],
    "usage_chart": ["--rounds", "5"],
    "adaptive": ["--scenarios", "burst"],
    "timing": ["--scenarios", "eta"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small, fast variants")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of " + ",".join(BENCHMARKS)
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    info = machine_info()
    print(f"machine: {info}")
    results: list[str] = []
    failed = 0
    for name in names:
        options = (QUICK if args.quick else BENCHMARKS)[name]
        command = [sys.executable, "-m", f"bench.bench_{name}", *options]
        print(f"\n### {name}: load average {load_average()}", flush=True)
        started = time.monotonic()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        print(run.stdout + run.stderr, end="", flush=True)
        took = time.monotonic() - started
        lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
        if run.returncode != 0:
            failed += 1
            lines.append(f"FAILED with exit code {run.returncode}")
        results.extend(f"{name} ({took:.0f} s): {line}" for line in lines)
    print("\n### summary")
    for line in results:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
