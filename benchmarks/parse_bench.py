"""Parsing speed: bevlog's parsers vs straightforward per-line parsers, in one run.

Generates an mmcv 1.x text log (DETR3D-like: header, Config dump, train lines with
`eta: N days, …`, six decoder layers of losses, a val line per epoch) of about --mb MB
and its `.log.json` twin in a temporary directory, then times:

  text: parsers.read(.log)   vs  a per-line regex + dict parser
  json: parsers.read(.log.json) vs  json.loads per line

Both sides read the same file from the page cache; the baselines only build a list of
dicts (no DataFrame), so they are measured generously, while bevlog builds the whole Run
(train, layers, evals frames and meta). Each timing is the best wall time of --repeat
runs; the CPU seconds (all threads) of that run are printed too, because on a shared
machine the wall time depends on what else runs. Usage:

    python benchmarks/parse_bench.py [--mb 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
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
lr_config = dict(policy='CosineAnnealing', warmup='linear', warmup_iters=500, warmup_ratio=0.3333333333333333, min_lr_ratio=0.001)
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
    ts = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{rng.randrange(1000):03d}"
    keys = ["loss_cls", "loss_bbox"] + [f"d{k}.loss_{t}" for k in range(5) for t in ("cls", "bbox")]
    total = epochs * per_epoch
    with open(path_text, "w") as ft, open(path_json, "w") as fj:
        ft.write(HEADER.format(ts=ts(t0), epochs=epochs))
        fj.write(json.dumps({"env_info": "sys.platform: linux\nGPU 0,1,2,3,4,5,6,7: A100", "config": "runner = dict(type='EpochBasedRunner', max_epochs=%d)\n" % epochs, "seed": 0, "exp_name": "bench.py"}) + "\n")
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
                    f"{ts(t)} - mmdet - INFO - Epoch [{e}][{i}/{IPE}]\tlr: {lr:.3e}, eta: {fmt_eta(int((total - done) * 86))}, "
                    f"time: {time_:.3f}, data_time: {data_time:.3f}, memory: 16978, {body}, loss: {loss:.4f}, grad_norm: {gn:.4f}\n"
                )
                row = {"mode": "train", "epoch": e, "iter": i, "lr": round(lr, 5), "memory": 16978, "data_time": round(data_time, 5)}
                row.update({k: round(v, 5) for k, v in vals.items()})
                row.update(loss=round(loss, 5), grad_norm=round(gn, 5), time=round(time_, 5))
                jl.append(json.dumps(row) + "\n")
            metrics = {f"pts_bbox_NuScenes/{c}_AP_dist_{d}": round(rng.random(), 4) for c in ("car", "truck", "bus") for d in ("0.5", "1.0", "2.0", "4.0")}
            metrics["pts_bbox_NuScenes/NDS"] = round(rng.random(), 4)
            tl.append(f"{ts(t)} - mmdet - INFO - Epoch(val) [{e}][1505]\t" + ", ".join(f"{k}: {v:.4f}" for k, v in metrics.items()) + "\n")
            jl.append(json.dumps({"mode": "val", "epoch": e, "iter": 1505, "lr": 0.0002, **metrics}) + "\n")
            ft.writelines(tl)
            fj.writelines(jl)
    return os.path.getsize(path_text), os.path.getsize(path_json)


# --- baselines: what one writes in ten minutes -------------------------------------------

BASE_LINE = re.compile(r"^(\S+ \S+) - \S+ - (\w+) - (Epoch|Iter)(?:\((\w+)\))? \[(\d+)\](?:\[(\d+)(?:/(\d+))?\])?\t(.*)$")
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
    return best, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200.0, help="approximate size of the text log")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

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
        for label, size, ours, base, base_name in (
            ("text", st, lambda: parsers.read(pt), lambda: baseline_text(pt), "per-line regex + dict"),
            ("json", sj, lambda: parsers.read(pj), lambda: baseline_json(pj), "per-line json.loads"),
        ):
            t_ours, c_ours, run = best_of(ours, args.repeat)
            del run.layers  # free before the baseline runs
            t_base, c_base, rows = best_of(base, args.repeat)
            n_base = sum(1 for r in rows if r.get("mode") == "train")
            assert len(run.train) == n_base, (label, len(run.train), n_base)
            del rows
            results.append((label, size, t_ours, c_ours, t_base, c_base, base_name, len(run.train)))
        print(f"load average before the timings: {load0}; after: {os.getloadavg()[0]:.2f} (2 cores)")
        print(f"{'format':6} {'MB':>5} {'rows':>7} {'bevlog s':>9} {'MB/s':>6} {'cpu s':>6} | {'baseline':22} {'s':>6} {'MB/s':>6} {'cpu s':>6} | {'ratio':>6} {'cpu ratio':>9}")
        for label, size, t_ours, c_ours, t_base, c_base, base_name, n in results:
            mb = size / 1e6
            print(
                f"{label:6} {mb:5.0f} {n:7d} {t_ours:9.2f} {mb / t_ours:6.1f} {c_ours:6.2f} | {base_name:22} {t_base:6.2f} "
                f"{mb / t_base:6.1f} {c_base:6.2f} | {t_base / t_ours:5.1f}x {c_base / c_ours:8.1f}x"
            )


if __name__ == "__main__":
    main()
