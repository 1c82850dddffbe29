"""Parsing speed: bevlog's parsers vs straightforward per-line parsers, in one run.

Generates an mmcv 1.x text log (DETR3D-like: header, Config dump, train lines with
`eta: N days, …`, six decoder layers of losses, a val line per epoch) of about --mb MB
and its `.log.json` twin in a temporary directory, then times:

  text: parsers.read(.log)      vs  a per-line regex + dict parser
  json: parsers.read(.log.json) vs  json.loads per line

Each baseline is measured twice, in the same runs: "light" stops at a list of dicts (no
DataFrame: generous to the baseline, since parsers.read returns the Run's train and
evals frames and meta), and "+ DataFrame" adds `pandas.DataFrame(rows)`, what a
straightforward parser needs to hand back a frame (like for like). The long `layers`
frame is built on first access of `run.layers`, so it is not in parsers.read's time;
bevlog's time is also split, in one more run, into reading + parsing the file
(`parsers.read_file`: bytes, lines, keys/values, float cast), building the Run
(`build_run`: train frame, evals, meta) and the first access of `run.layers`.

Each timing is the best wall time of --repeat runs; the CPU seconds (all threads) of
that run are printed too, because on a shared machine the wall time depends on what
else runs. Last, each parser runs --repeat times as the first parse of a new Python
process (what one `bevlog` command pays: lazy imports, first use of the thread pool and
of fresh memory), best and median. Usage:

    python benchmarks/parse_bench.py [--mb 200] [--repeat 3] [--old DIR]
    python benchmarks/parse_bench.py --real [--mb 200] [--repeat 3] [--old DIR]

--old DIR: a checkout of older code (e.g. `git worktree add DIR <commit>`, before or after the
one loader: its `parsers.read_file` is called the way that code takes it); its
`parsers.read` and this checkout's then also run as the first parse of fresh processes,
alternating, so that both meet the same load: no-regression checks.

--real: the real DETR3D text and json logs of fixtures/real/set1 tiled to --mb MB (each copy's
epochs renumbered to follow the previous one's: benchmarks/memory_bench.py's tiling), instead
of generated ones. Each is read in both ways the loader has: whole (one piece, `piece` ≥ the
file) and in pieces (parsers.follow.PIECE, 64 MiB, the default for a file this big), every
time to a Run (`read_file` + `build_run`), against the per-line baseline (light and +
DataFrame), all in fresh processes, in rounds (so that every contender meets the same load);
with --old DIR, the older checkout's whole and piece reads join the rounds.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HEADER = """{ts} - mmdet - INFO - Environment info:
------------------------------------------------------------
sys.platform: linux
CUDA available: True
GPU 0,1,2,3,4,5,6,7: NVIDIA A100-SXM4-80GB
------------------------------------------------------------

{ts} - mmdet - INFO - Distributed training: True
{ts} - mmdet - INFO - Config:
data = dict(samples_per_gpu=1, workers_per_gpu=4)
optimizer = dict(type='AdamW', lr=0.0002, weight_decay=0.01)
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(policy='CosineAnnealing', warmup='linear', warmup_iters=500, \
warmup_ratio=0.3333333333333333, min_lr_ratio=0.001)
runner = dict(type='EpochBasedRunner', max_epochs={epochs})
model = dict(type='Detr3D', pts_bbox_head=dict(transformer=dict(decoder=dict(num_layers=6))))
gpu_ids = range(0, 8)

{ts} - mmdet - INFO - Set random seed to 0, deterministic: False
{ts} - mmdet - INFO - workflow: [('train', 1)], max: {epochs} epochs
"""
IPE = 7033
INTERVAL = 50


def fmt_eta(sec: int) -> str:
    d, rem = divmod(sec, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    hms = f"{h}:{m:02d}:{s:02d}"
    return f"{d} day{'s' if d > 1 else ''}, {hms}" if d else hms


def generate(path_text: str, path_json: str, target_mb: float) -> tuple[int, int]:
    rng = random.Random(0)
    per_epoch = IPE // INTERVAL
    line_bytes = 425  # measured size of one train line
    epochs = max(1, int(target_mb * 1e6 / (line_bytes * per_epoch)) + 1)
    t0 = 1690429237  # 2023-07-27 03:40:37 UTC

    def ts(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{rng.randrange(1000):03d}"

    keys = ["loss_cls", "loss_bbox"] + [f"d{k}.loss_{t}" for k in range(5) for t in ("cls", "bbox")]
    total = epochs * per_epoch
    with open(path_text, "w") as ft, open(path_json, "w") as fj:
        ft.write(HEADER.format(ts=ts(t0), epochs=epochs))
        fj.write(
            json.dumps(
                {
                    "env_info": "sys.platform: linux\nGPU 0,1,2,3,4,5,6,7: A100",
                    "config": f"runner = dict(type='EpochBasedRunner', max_epochs={epochs})\n",
                    "seed": 0,
                    "exp_name": "bench.py",
                }
            )
            + "\n"
        )
        t = t0 + 20
        done = 0
        for e in range(1, epochs + 1):
            tl, jl = [], []
            for i in range(INTERVAL, IPE + 1, INTERVAL):
                done += 1
                t += 86
                lr = 2e-4 * (0.5 + 0.5 * rng.random())
                vals = {k: 2.0 * rng.random() for k in keys}
                loss = sum(vals.values())
                gn = rng.choice([rng.uniform(10, 200)] * 30 + [float("nan"), float("inf")])
                time_, data_time = rng.uniform(1.5, 1.9), rng.uniform(0.5, 0.7)
                body = ", ".join(f"{k}: {v:.4f}" for k, v in vals.items())
                tl.append(
                    f"{ts(t)} - mmdet - INFO - Epoch [{e}][{i}/{IPE}]\tlr: {lr:.3e}, "
                    f"eta: {fmt_eta(int((total - done) * 86))}, "
                    f"time: {time_:.3f}, data_time: {data_time:.3f}, memory: 16978, {body}, "
                    f"loss: {loss:.4f}, grad_norm: {gn:.4f}\n"
                )
                row = {
                    "mode": "train",
                    "epoch": e,
                    "iter": i,
                    "lr": round(lr, 5),
                    "memory": 16978,
                    "data_time": round(data_time, 5),
                }
                row.update({k: round(v, 5) for k, v in vals.items()})
                row.update(loss=round(loss, 5), grad_norm=round(gn, 5), time=round(time_, 5))
                jl.append(json.dumps(row) + "\n")
            metrics = {
                f"pts_bbox_NuScenes/{c}_AP_dist_{d}": round(rng.random(), 4)
                for c in ("car", "truck", "bus")
                for d in ("0.5", "1.0", "2.0", "4.0")
            }
            metrics["pts_bbox_NuScenes/NDS"] = round(rng.random(), 4)
            tl.append(
                f"{ts(t)} - mmdet - INFO - Epoch(val) [{e}][1505]\t"
                + ", ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
                + "\n"
            )
            jl.append(json.dumps({"mode": "val", "epoch": e, "iter": 1505, "lr": 0.0002, **metrics}) + "\n")
            ft.writelines(tl)
            fj.writelines(jl)
    return os.path.getsize(path_text), os.path.getsize(path_json)


# --- baselines: what one writes in ten minutes -------------------------------------------

BASE_LINE = re.compile(
    r"^(\S+ \S+) - \S+ - (\w+) - (Epoch|Iter)(?:\((\w+)\))? \[(\d+)\](?:\[(\d+)(?:/(\d+))?\])?\t(.*)$"
)
BASE_DAYS = re.compile(r"(\d+ days?), ")


def baseline_text(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = BASE_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            d = {"ts": m.group(1), "mode": m.group(4) or "train", "epoch": int(m.group(5))}
            if m.group(6):
                d["iter"] = int(m.group(6))
            body = BASE_DAYS.sub(r"\1 ", m.group(8))
            for item in body.split(", "):
                k, _, v = item.partition(": ")
                try:
                    d[k] = float(v)
                except ValueError:
                    d[k] = v
            rows.append(d)
    return rows


def baseline_json(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def best_of(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run (all threads), result)."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, cpu = wall, time.process_time() - c
        out = None if _ != repeat - 1 else out  # free before the next run
    return best, cpu, out


def best_baseline(fn, path: str, repeat: int):
    """Per-line parser timed light (list of dicts) and + DataFrame(rows), in the same runs:
    ((wall, cpu) light, (wall, cpu) with the frame, train rows)."""
    import pandas as pd

    light, full, n_train = (float("inf"), 0.0), (float("inf"), 0.0), 0
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        rows = fn(path)
        c1, t1 = time.process_time(), time.perf_counter()
        frame = pd.DataFrame(rows)
        c2, t2 = time.process_time(), time.perf_counter()
        if t1 - t0 < light[0]:
            light = (t1 - t0, c1 - c0)
        if t2 - t0 < full[0]:
            full = (t2 - t0, c2 - c0)
        n_train = int((frame["mode"] == "train").sum())
        del rows, frame
    return light, full, n_train


def phases(path: str) -> tuple[float, float, float]:
    """One parsers.read split in its phases: (read + parse the file, build the Run, the
    long layers frame on first access), wall seconds."""
    from parsers import build_run, read_file

    t0 = time.perf_counter()
    (seg,) = read_file(path)
    t1 = time.perf_counter()
    run = build_run([seg], "bench", [path])
    t2 = time.perf_counter()
    len(run.layers)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


FRESH = """
import sys, time
sys.path[:0] = [{root!r}, {bench!r}]
import pandas, pyarrow.compute, parsers, parsers.formats, parse_bench
c, t = time.process_time(), time.perf_counter()
{call}
print(time.perf_counter() - t, time.process_time() - c)
"""


_PYCACHE = tempfile.mkdtemp(prefix="parse_bench_pycache_")
atexit.register(shutil.rmtree, _PYCACHE, True)
_WARMED: set = set()


def fresh_process(call: str, repeat: int) -> tuple[float, float]:
    """(best, median) wall seconds of `call` as the first parse in a new Python process
    (imports done before the clock starts): what one `bevlog` command pays."""
    import statistics

    walls = [_fresh(call)[0] for _ in range(repeat)]
    return min(walls), statistics.median(walls)


def _fresh(call: str, root: str | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of `call` as the first parse of a new Python process whose
    `parsers` is the one under `root` (default: this checkout's). The modules it imports
    load from bytecode, as in an installed copy: where PYTHONDONTWRITEBYTECODE is set (these
    machines set it), each process would otherwise compile the modules `call` imports late
    from source, inside the timing; the bytecode goes to a cache outside the checkouts, and a
    first, untimed call per checkout writes it."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    root = root or os.path.dirname(here)
    code = FRESH.format(root=root, bench=here, call=call)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    run = functools.partial(subprocess.run, [sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if (root, call) not in _WARMED:
        run(cwd=root, env=env)
        _WARMED.add((root, call))
    out = run(cwd=root, env=env).stdout
    wall, cpu = out.split()[:2]
    return float(wall), float(cpu)


def old_and_new(old: str, paths: dict, repeat: int) -> None:
    """`parsers.read` of each file as the first parse of fresh processes, the code of the
    checkout `old` and this checkout's alternating (so that both meet the same load)."""
    import statistics

    for label, path in paths.items():
        got: dict = {"old": [], "new": []}
        for _ in range(repeat):
            got["old"].append(_fresh(f"parsers.read({path!r})", old))
            got["new"].append(_fresh(f"parsers.read({path!r})"))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}
        print(
            f"{label:6} old {med['old'][0]:5.2f} s (CPU {med['old'][1]:5.2f}) | new {med['new'][0]:5.2f} s "
            f"(CPU {med['new'][1]:5.2f}) | new / old wall {med['new'][0] / med['old'][0]:4.2f}x, "
            f"CPU {med['new'][1] / med['old'][1]:4.2f}x  (medians of {repeat})"
        )


# --- --real: tiled real logs, old and new code, whole and in pieces -------------------------

NEW_WHOLE = "s = parsers.read_file({path!r}, piece=1 << 40); parsers.build_run(s, 'b', [{path!r}])"
NEW_PIECES = "s = parsers.read_file({path!r}); parsers.build_run(s, 'b', [{path!r}])"
# the code before the one loader: read_file read a text log over 64 MiB in pieces (its
# `read_big`); given a parse chunk it read any file whole
OLD_WHOLE = "s = parsers.formats.read_file({path!r}, chunk=8 << 20); parsers.build_run(s, 'b', [{path!r}])"
OLD_PIECES = "s = parsers.formats.read_file({path!r}); parsers.build_run(s, 'b', [{path!r}])"
BASELINE = "import pandas; pandas.DataFrame(parse_bench.{fn}({path!r}))"
BASELINE_LIGHT = "parse_bench.{fn}({path!r})"


def real_mode(args) -> None:
    """Tiled real logs (see the module docstring)."""
    import statistics

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import memory_bench

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        pt, pj = os.path.join(tmp, "20230727_114037.log"), os.path.join(tmp, "20230727_114037.log.json")
        t = time.perf_counter()
        copies = memory_bench.generate_text(pt, args.mb), memory_bench.generate_json(pj, args.mb)
        st, sj = os.path.getsize(pt), os.path.getsize(pj)
        print(
            f"tiled the DETR3D log {copies[0]}x: {st / 1e6:.0f} MB text, {copies[1]}x: {sj / 1e6:.0f} MB json "
            f"({time.perf_counter() - t:.0f} s)"
        )
        for path in (pt, pj):  # warm the page cache
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass
        load0 = os.getloadavg()[0]
        for label, path, size, fn in (("text", pt, st, "baseline_text"), ("json", pj, sj, "baseline_json")):
            contenders = {
                "new whole": (NEW_WHOLE, None),
                "new pieces": (NEW_PIECES, None),
                "baseline + DataFrame": (BASELINE, None),
                "baseline (light)": (BASELINE_LIGHT, None),
            }
            if args.old:
                # an older checkout that already has the one loader is called the same way as this one
                one_loader = os.path.exists(os.path.join(args.old, "parsers", "loader.py"))
                contenders["old whole"] = (NEW_WHOLE if one_loader else OLD_WHOLE, args.old)
                contenders["old pieces"] = (NEW_PIECES if one_loader else OLD_PIECES, args.old)
            got: dict = {k: [] for k in contenders}
            for _ in range(args.repeat):  # rounds: each contender once per round
                for name, (call, root) in contenders.items():
                    got[name].append(_fresh(call.format(path=path, fn=fn), root))
            med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}
            print(f"{label}: {size / 1e6:.0f} MB, medians of {args.repeat} fresh processes (wall s, CPU s, MB/s)")
            for name, (wall, cpu) in med.items():
                print(f"  {name:22} {wall:7.2f} {cpu:7.2f} {size / 1e6 / wall:7.1f}")
            base, light = med["baseline + DataFrame"][0], med["baseline (light)"][0]
            for way in ("whole", "pieces"):
                ours = med[f"new {way}"][0]
                print(
                    f"  new {way:6}: {base / ours:4.1f}x the baseline + DataFrame, {light / ours:4.1f}x the light one"
                )
            print(f"  new pieces / new whole: {med['new pieces'][0] / med['new whole'][0]:4.2f}x")
            if args.old:
                for way in ("whole", "pieces"):
                    print(f"  new / old {way:6}: {med[f'new {way}'][0] / med[f'old {way}'][0]:4.2f}x wall")
        print(f"load average before: {load0:.2f}, after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200.0, help="approximate size of the text log")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--old",
        metavar="DIR",
        default=None,
        help="a checkout of older code: its parsers.read and this checkout's, alternating fresh processes",
    )
    ap.add_argument("--real", action="store_true", help="tile the real DETR3D logs (see above) instead of generating")
    ap.add_argument("--tmp", default=None, help="where the logs are written (default: the system's temp dir)")
    args = ap.parse_args()
    if args.real:
        real_mode(args)
        return

    import pandas  # noqa: F401 - import cost is not parsing cost: pay it before timing
    import pyarrow.compute  # noqa: F401

    import parsers

    with tempfile.TemporaryDirectory() as tmp:
        pt, pj = os.path.join(tmp, "20230727_114037.log"), os.path.join(tmp, "20230727_114037.log.json")
        t = time.perf_counter()
        st, sj = generate(pt, pj, args.mb)
        print(f"generated {st / 1e6:.0f} MB text + {sj / 1e6:.0f} MB json in {time.perf_counter() - t:.0f} s")
        for path in (pt, pj):  # warm the page cache
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass
        results = []
        load0 = f"{os.getloadavg()[0]:.2f}"
        for label, path, size, base, base_name in (
            ("text", pt, st, baseline_text, "per-line regex + dict"),
            ("json", pj, sj, baseline_json, "per-line json.loads"),
        ):
            # parsers.read as the API returns it: train, evals, meta; `layers` is built on
            # first access (timed apart in the phases: a straightforward parser has none).
            t_ours, c_ours, run = best_of(functools.partial(parsers.read, path), args.repeat)
            n = len(run.train)
            del run
            split = phases(path)
            light, full, n_base = best_baseline(base, path, args.repeat)
            assert n == n_base, (label, n, n_base)
            results.append((label, size, n, t_ours, c_ours, split, base_name, light, full))
        print(f"load average before the timings: {load0}; after: {os.getloadavg()[0]:.2f} (2 cores)")
        head = (
            f"{'format':6} {'MB':>5} {'rows':>7} {'bevlog s':>9} {'MB/s':>6} {'cpu s':>6} | "
            f"{'baseline':34} {'s':>6} {'MB/s':>6} {'cpu s':>6} | {'ratio':>6} {'cpu ratio':>9}"
        )
        print(head)
        for label, size, n, t_ours, c_ours, _split, base_name, light, full in results:
            mb = size / 1e6
            for suffix, (t_base, c_base) in ((" (light)", light), (" + DataFrame", full)):
                print(
                    f"{label:6} {mb:5.0f} {n:7d} {t_ours:9.2f} {mb / t_ours:6.1f} {c_ours:6.2f} | "
                    f"{base_name + suffix:34} {t_base:6.2f} "
                    f"{mb / t_base:6.1f} {c_base:6.2f} | {t_base / t_ours:5.1f}x {c_base / c_ours:8.1f}x"
                )
        print("bevlog phases (one run, wall s): read + parse file | build Run (train, evals, meta) | layers frame")
        for label, _size, _n, _t_ours, _c_ours, split, *_ in results:
            print(f"{label:6} {split[0]:6.2f} | {split[1]:6.2f} | {split[2]:6.2f}")
        print(f"first parse in a fresh process, {args.repeat} processes each (best / median wall s):")
        for label, path, base in (("text", pt, "baseline_text"), ("json", pj, "baseline_json")):
            ours = fresh_process(f"parsers.read({path!r})", args.repeat)
            theirs = fresh_process(f"parse_bench.{base}({path!r})", args.repeat)
            print(
                f"{label:6} bevlog {ours[0]:5.2f} / {ours[1]:5.2f} | "
                f"baseline (light) {theirs[0]:5.2f} / {theirs[1]:5.2f} | ratio of medians {theirs[1] / ours[1]:4.1f}x"
            )
        if args.old:
            print(f"old ({args.old}) and new code, first parse in fresh processes, alternating:")
            old_and_new(args.old, {"text": pt, "json": pj}, args.repeat)


if __name__ == "__main__":
    main()
