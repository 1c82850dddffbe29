"""How fast `bevlog index` builds and refreshes a catalog of many runs.

    python benchmarks/index_bench.py                  # 10,000 runs under /tmp/bevlog-index-bench
    python benchmarks/index_bench.py --runs 1000      # a smaller tree
    python benchmarks/index_bench.py --keep           # leave the tree and catalogs for a look

The tree: N run folders, each a copy of one of the real seeded bevdetr runs of
fixtures/runs/seeds (91 runs, their mmcv text log) perturbed so that no two are alike — a
new launch stamp (file name and every line), the seed, the work dir, every loss value
scaled by a factor of the run's own (0.9–1.1) — gzipped as bevdetr writes them. One run in
a thousand is a dangling link (a log that is gone): one problem row each.

Measured, each as a fresh `bevlog index` process (what a person runs), on this machine:
1. baseline, same run: `bevlog diagnose` of the first --baseline runs against `bevlog index`
   of the same runs into a new catalog (the index's overhead over reading and diagnosing:
   Parquet frames and the DuckDB writes);
2. the full tree into a new catalog;
3. the same tree again, unchanged (target: seconds);
4. after 10 logs were touched (new mtime): the plan of the whole tree and 10 runs re-read.
Ratios are printed; figures, machine and load go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(REPO, "fixtures", "runs", "seeds")
STAMP = re.compile(rb"2026-12-03 (\d\d):(\d\d):(\d\d)")
LOSS = re.compile(rb"((?:^|[\t ,])[\w.]*loss[\w.]*: )([0-9]+\.[0-9]+)")


def templates() -> list[bytes]:
    out = []
    for name in sorted(os.listdir(SEEDS)):
        folder = os.path.join(SEEDS, name)
        if not os.path.isdir(folder):
            continue
        logs = [f for f in os.listdir(folder) if f.endswith(".log.gz")]
        if logs:
            with gzip.open(os.path.join(folder, logs[0]), "rb") as f:
                out.append(f.read())
    return out


def make_run(args) -> None:
    k, root, text = args
    rng = random.Random(k)
    day = 1 + k % 28
    month = 1 + (k // 28) % 12
    stamp = f"2025{month:02d}{day:02d}_{rng.randrange(24):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"
    folder = os.path.join(root, f"run-{k:05d}")
    os.makedirs(folder, exist_ok=True)
    if k % 1000 == 999:  # a log that is gone: a dangling link, one problem row
        os.symlink(os.path.join(root, f"gone-{k}.log"), os.path.join(folder, f"{stamp}.log"))
        return
    factor = rng.uniform(0.9, 1.1)
    date = f"2025-{month:02d}-{day:02d}".encode()
    text = STAMP.sub(lambda m: date + b" " + m.group(1) + b":" + m.group(2) + b":" + m.group(3), text)
    text = LOSS.sub(lambda m: m.group(1) + f"{float(m.group(2)) * factor:.4f}".encode(), text)
    text = re.sub(rb"seed=\d+", f"seed={k}".encode(), text)
    text = re.sub(rb"work_dir = '[^']*'", f"work_dir = '/bench/run-{k:05d}'".encode(), text)
    with gzip.open(os.path.join(folder, f"{stamp}.log.gz"), "wb", compresslevel=6) as f:
        f.write(text)


def generate(root: str, n: int) -> float:
    started = time.perf_counter()
    texts = templates()
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(make_run, [(k, root, texts[k % len(texts)]) for k in range(n)], chunksize=64))
    return time.perf_counter() - started


def timed(cmd) -> tuple[float, str, int]:
    """(wall seconds, the last line it printed, exit code) of a fresh process."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO})
    seconds = time.perf_counter() - started
    lines = proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or [""]
    return seconds, lines[-1][:300], proc.returncode


def size_mb(path: str) -> float:
    total = 0
    for d, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files if os.path.exists(os.path.join(d, f)))
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--baseline", type=int, default=500)
    ap.add_argument("--root", default="/tmp/bevlog-index-bench")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tree, base_tree = os.path.join(args.root, "runs"), os.path.join(args.root, "baseline")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start")
    gen = generate(tree, args.runs)
    print(f"generated {args.runs} runs ({size_mb(tree):.0f} MB of .log.gz) in {gen:.0f} s")
    shutil.rmtree(base_tree, ignore_errors=True)
    os.makedirs(base_tree)
    for name in sorted(os.listdir(tree))[: args.baseline]:
        shutil.copytree(os.path.join(tree, name), os.path.join(base_tree, name), symlinks=True)
    bevlog = [sys.executable, "-m", "bevlog"]
    diag_s, _, _ = timed(bevlog + ["diagnose", base_tree, "--format", "json"])
    base_cat = os.path.join(args.root, "catalog-baseline")
    shutil.rmtree(base_cat, ignore_errors=True)
    idx_s, idx_line, _ = timed(bevlog + ["index", base_tree, "--catalog", base_cat])
    print(
        f"baseline, {args.baseline} runs: bevlog diagnose {diag_s:.1f} s, bevlog index {idx_s:.1f} s "
        f"(index / diagnose = {idx_s / diag_s:.2f}×)"
    )
    catalog = os.path.join(args.root, "catalog")
    shutil.rmtree(catalog, ignore_errors=True)
    load = os.getloadavg()[0]
    fresh_s, fresh_line, rc = timed(bevlog + ["index", tree, "--catalog", catalog])
    print(
        f"fresh index, {args.runs} runs: {fresh_s:.0f} s = {fresh_s / 60:.1f} min "
        f"({args.runs / fresh_s:.1f} runs/s; load {load:.1f} at start; exit {rc})\n  {fresh_line}"
    )
    print(f"  catalog: {size_mb(catalog):.0f} MB (DuckDB + Parquet)")
    again_s, again_line, _ = timed(bevlog + ["index", tree, "--catalog", catalog])
    print(f"re-index, unchanged: {again_s:.1f} s (fresh / unchanged = {fresh_s / again_s:.0f}×)\n  {again_line}")
    touched = sorted(os.listdir(tree))[:10]
    for name in touched:
        for f in os.listdir(os.path.join(tree, name)):
            p = os.path.join(tree, name, f)
            if os.path.isfile(p):
                os.utime(p)
    ten_s, ten_line, _ = timed(bevlog + ["index", tree, "--catalog", catalog])
    print(f"re-index after 10 logs were touched: {ten_s:.1f} s\n  {ten_line}")
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
