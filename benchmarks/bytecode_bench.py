"""CPU seconds of one `python -m bevlog parse` child with and without bevlog, parsers and bevdetr
compiled into their `__pycache__`, alternating, under PYTHONDONTWRITEBYTECODE (as this project's
machines set it: without a compiled copy every process compiles the packages again). The suite
compiles them once per session (tests/conftest.py); this measures what that saves a process.

    python benchmarks/bytecode_bench.py [--rounds 8]

Every pyc file it writes is removed at the end (also those that were there before it ran).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bevlog", "parsers", "bevdetr")
LOG = REPO / "fixtures" / "logs" / "mmcv_epoch"


def compiled(on: bool) -> None:
    for package in PACKAGES:
        for source in (REPO / package).rglob("*.py"):
            cached = Path(importlib.util.cache_from_source(str(source)))
            if on:
                py_compile.compile(str(source), cfile=str(cached), doraise=True)
            elif cached.exists():
                cached.unlink()


def child_cpu() -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "bevlog", "parse", str(LOG)], env=env, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    got: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(args.rounds):
            for on in (False, True):
                compiled(on)
                got[on].append(child_cpu())
    finally:
        compiled(False)
    src, pyc = statistics.median(got[False]), statistics.median(got[True])
    print(f"from source: {src:.3f} CPU-s, compiled: {pyc:.3f} CPU-s (medians of {args.rounds}); ratio {pyc / src:.2f}")
    print(f"load average: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
