"""What the attention hook costs at PETR's size, on this machine's CPU.

    python benchmarks/hook_overhead_bench.py                     # 900 queries x 6,000 keys, d 256, 8 heads
    python benchmarks/hook_overhead_bench.py --keys 6000 --queries 900 --batch 1 --repeats 5

One decoder cross-attention of PETR (nn.MultiheadAttention, embed 256, 8 heads, 900 queries,
about 6,000 image-feature keys for 6 cameras at 1/16 of 1600x640 — PETR's R50 config has
~24,000 at 1/16 of 1600x900, a multiple of this) is timed in training mode, forward alone: the
baseline. Beside it, in the same rounds (interleaved, medians), the cost of one measurement by
`attnstats.recorder` with the hook's default sample (first 2 samples, 128 queries, all keys)
and with every query (what the first version measured every iteration). The overhead per
iteration is the measurement's cost / `every`; printed as a share of the module's own forward.
A PETR training step runs 6 such layers plus a backbone and backward, so the share of a whole
step is smaller still; the module's forward is the conservative denominator.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from attnstats.measure import Tally  # noqa: E402
from attnstats.recorder import DEFAULT_EVERY, DEFAULT_QUERIES, DEFAULT_SAMPLES, measure_call  # noqa: E402


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=900)
    parser.add_argument("--keys", type=int, default=6000)
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(args.embed, args.heads, dropout=0.1).train()
    q = torch.randn(args.queries, args.batch, args.embed)
    k = torch.randn(args.keys, args.batch, args.embed)
    pad = torch.zeros(args.batch, args.keys, dtype=torch.bool)
    pad[:, -args.keys // 10 :] = True  # a tenth of the keys padded, as masks make it cost

    def module():
        with torch.no_grad():
            mha(q, k, k, key_padding_mask=pad, need_weights=False)

    def measure(max_queries, max_samples):
        def run():
            measure_call(mha, q, k, pad, None, Tally(), max_samples, max_queries, 32)

        return run

    cases = {
        "module forward": module,
        f"hook, default sample ({DEFAULT_SAMPLES} samples, {DEFAULT_QUERIES} queries)": measure(
            DEFAULT_QUERIES, DEFAULT_SAMPLES
        ),
        f"hook, every query ({args.queries})": measure(args.queries, DEFAULT_SAMPLES),
    }
    for fn in cases.values():
        fn()  # warm up
    medians = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved rounds: load hits every case alike
        for name, fn in cases.items():
            medians[name].append(timed(fn, 1))
    result = {name: statistics.median(v) for name, v in medians.items()}
    base = result["module forward"]
    print(
        f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
        f"load average {os.getloadavg()[0]:.1f}; {args.queries} queries x {args.keys} keys, embed {args.embed}, "
        f"{args.heads} heads, batch {args.batch}; median of {args.repeats} interleaved rounds"
    )
    for name, seconds in result.items():
        print(f"  {name:<48} {seconds * 1000:9.1f} ms   {seconds / base:6.3f}x the module's forward")
    default = result[list(cases)[1]]
    for every in (1, 5, DEFAULT_EVERY, 20, 50):
        print(
            f"  measured every {every:>2} iterations (default sample): {100 * default / every / base:6.2f}% "
            f"of the module's forward per iteration"
        )


if __name__ == "__main__":
    main()
