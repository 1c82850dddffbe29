"""How fast `bevlog --help` answers, next to a bare `python -c pass` baseline.

    python benchmarks/startup_bench.py [--repeat 20] [--old DIR] [--rounds 3]

Runs the installed entry point's interpreter directly (not a pyenv shim) so the figure is
bevlog's own start-up. Prints the median wall time of each and the difference.

--old DIR: a checkout of older code (`git worktree add DIR <commit>`): its `bevlog --help` and
this checkout's run in alternating rounds, each with its checkout first on PYTHONPATH, next to the
bare interpreter, so that both meet the same load; per round the medians, then the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], repeat: int, root: str | None = None) -> float:
    env = None if root is None else {**os.environ, "PYTHONPATH": root}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def old_and_new(old: str, repeat: int, rounds: int) -> None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    help_ = [sys.executable, "-m", "bevlog", "--help"]
    print(f"{'round':>5} {'python -c pass':>15} {'old --help':>11} {'new --help':>11} {'new / old':>10}")
    for k in range(1, rounds + 1):
        base = median_seconds([sys.executable, "-c", "pass"], repeat)
        old_s = median_seconds(help_, repeat, old)
        new_s = median_seconds(help_, repeat, here)
        print(f"{k:5} {base * 1000:12.1f} ms {old_s * 1000:8.1f} ms {new_s * 1000:8.1f} ms {new_s / old_s:9.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--old", help="a checkout of older code to compare with (see above)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds with --old")
    args = ap.parse_args()
    if args.old:
        old_and_new(args.old, args.repeat, args.rounds)
        return
    base = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    help_ = median_seconds([sys.executable, "-m", "bevlog", "--help"], args.repeat)
    print(f"python -c pass      {base * 1000:7.1f} ms")
    print(f"bevlog --help       {help_ * 1000:7.1f} ms   (target < 150 ms)")
    print(f"bevlog's own cost   {(help_ - base) * 1000:7.1f} ms   ratio {help_ / base:.2f}x interpreter start")


if __name__ == "__main__":
    main()
