"""Summarise a gpu_check.sh folder: one row per run (samples/s, peak memory, final loss, mAP,
attention statistics, what bevlog diagnose finds) and the curves of every run.

    python benchmarks/gpu_check_summary.py OUT_DIR

Writes OUT_DIR/summary.md, summary.json, curves.csv (every logged interval of every run) and
evals.csv (every evaluation). samples/s is the total batch over the median logged `time` per
iteration (so a run stopped at its time limit still counts); peak memory is the largest
`memory` (MB, mmcv's max_memory_allocated) the log shows — CUDA only.
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

CURVE_KEYS = ("lr", "loss", "loss_cls", "loss_bbox", "grad_norm", "attn_entropy", "attn_logit_max", "time", "memory")


def run_dirs(out: str) -> list[str]:
    return sorted(
        d
        for d in os.listdir(out)
        if os.path.isdir(os.path.join(out, d)) and any(n.endswith(".log") for n in os.listdir(os.path.join(out, d)))
    )


def number(x):
    return float(x) if x is not None and math.isfinite(float(x)) else None


def last_layer_attention(tr):
    """The final decoder layer's attention statistics as columns `attn_entropy`, `attn_logit_max`
    (logged as `d<L-1>.attn_*`; logs before attnstats named the last layer without the prefix)."""
    from attnstats import KEY

    layers = {}
    for column in tr.columns:
        m = KEY.match(column)
        if m:
            layers.setdefault(int(m["layer"]) if m["layer"] else 10**6, {})[m["term"]] = column
    if layers:
        tr = tr.assign(**{term: tr[column] for term, column in layers[max(layers)].items()})
    return tr


def summarise(out: str, name: str) -> tuple[dict, object, object]:
    import parsers
    from bevlog.diagnose import diagnose_run

    run = parsers.read(os.path.join(out, name))
    tr = last_layer_attention(run.train)
    batch = run.meta.get("total_batch")
    times = tr["time"].dropna() if "time" in tr else []
    mem = tr["memory"].dropna() if "memory" in tr else []
    maps = run.evals[run.evals["metric"] == "bevdetr/mAP"] if len(run.evals) else run.evals
    last = tr.iloc[-1] if len(tr) else None
    row = {
        "run": name,
        "lr": run.meta.get("lr"),
        "iterations": int(tr["step"].max()) if len(tr) else 0,
        "samples_per_s": number(batch / times.median()) if len(times) and batch else None,
        "peak_memory_mb": number(mem.max()) if len(mem) else None,
        "final_loss": number(last["loss"]) if last is not None and "loss" in tr else None,
        "min_loss": number(tr["loss"].min()) if "loss" in tr and len(tr) else None,
        "final_mAP": number(maps["value"].iloc[-1]) if len(maps) else None,
        "final_attn_entropy": number(last["attn_entropy"]) if last is not None and "attn_entropy" in tr else None,
        "max_attn_logit": number(tr["attn_logit_max"].max()) if "attn_logit_max" in tr and len(tr) else None,
        "findings": [f"{f.severity} {f.rule}" for f in diagnose_run(run)],
    }
    curves = tr[["step", "epoch"] + [k for k in CURVE_KEYS if k in tr]].copy()
    curves.insert(0, "run", name)
    evals = maps[["epoch", "value"]].rename(columns={"value": "mAP"}).copy() if len(maps) else None
    if evals is not None:
        evals.insert(0, "run", name)
    return row, curves, evals


def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) and x is not None else "–"


def main(out: str) -> int:
    import pandas as pd

    rows, curves, evals = [], [], []
    for name in run_dirs(out):
        row, c, e = summarise(out, name)
        rows.append(row)
        curves.append(c)
        if e is not None:
            evals.append(e)
    if not rows:
        print(f"{out}: no run logs found", file=sys.stderr)
        return 1
    pd.concat(curves).to_csv(os.path.join(out, "curves.csv"), index=False)
    if evals:
        pd.concat(evals).to_csv(os.path.join(out, "evals.csv"), index=False)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(rows, f, indent=1)
    lines = [
        "| run | lr | iterations | samples/s | peak memory MB | final loss | min loss | final mAP | "
        "final attn entropy | max attn logit | findings |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {fmt(r['lr'], '.1e')} | {r['iterations']} | {fmt(r['samples_per_s'], '.1f')} | "
            f"{fmt(r['peak_memory_mb'], '.0f')} | {fmt(r['final_loss'], '.3f')} | {fmt(r['min_loss'], '.3f')} | "
            f"{fmt(r['final_mAP'], '.3f')} | {fmt(r['final_attn_entropy'], '.3f')} | "
            f"{fmt(r['max_attn_logit'], '.3g')} | {', '.join(r['findings']) or 'none'} |"
        )
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpu_check_summary.py OUT_DIR")
    sys.exit(main(sys.argv[1]))
