"""How long `vllm-serving validate` takes for 10 values files, the way a user runs it: a fresh process
(interpreter start, imports), one helm process per file run concurrently, and the sizing check.

    .venv/bin/python benchmarks/validate_ten_files.py [--runs 7]

Prints the median and best wall time, the CPU time per run (the command and its helm children) and the
load average, since the machine may be shared. The target is at most 1 s of wall time for 10 files.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 1.0


def ten_files() -> list[Path]:
    files = sorted((REPO / "values").glob("*.yaml")) + sorted((REPO / "charts" / "vllm-serving" / "ci").glob("*.yaml"))
    return files[:10]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    files = [str(p) for p in ten_files()]
    command = [sys.executable, "-m", "vllm_serving", "validate", *files]
    subprocess.run(command, check=True, capture_output=True)  # warm the page cache and helm's first start
    walls, cpus = [], []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
    median = statistics.median(walls)
    print(f"vllm-serving validate, {len(files)} files, {args.runs} runs")
    print(f"  wall: median {median:.2f} s, best {min(walls):.2f} s (target <= {TARGET_SECONDS:.1f} s)")
    print(f"  cpu:  median {statistics.median(cpus):.2f} s per run (command + helm processes)")
    print(f"  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
