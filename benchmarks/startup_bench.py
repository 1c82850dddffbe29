"""How fast `bevlog --help` answers, next to a bare `python -c pass` baseline.

    python benchmarks/startup_bench.py [--repeat 20]

Runs the installed entry point's interpreter directly (not a pyenv shim) so the figure is
bevlog's own start-up. Prints the median wall time of each and the difference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    base = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    help_ = median_seconds([sys.executable, "-m", "bevlog", "--help"], args.repeat)
    print(f"python -c pass      {base * 1000:7.1f} ms")
    print(f"bevlog --help       {help_ * 1000:7.1f} ms   (target < 150 ms)")
    print(f"bevlog's own cost   {(help_ - base) * 1000:7.1f} ms   ratio {help_ / base:.2f}x interpreter start")


if __name__ == "__main__":
    main()
