"""Evaluation metrics: headline metrics first (NDS, mAP, the nuScenes errors, COCO mAP)."""
from __future__ import annotations

import re

from bevlog.compare import metric_curve
from bevlog.report.curves import panel
from bevlog.report.style import Context, line, subplot_grid

MAX_SUBPLOTS = 9
HEADLINE = [re.compile(p) for p in (
    r"(^|/)NDS$", r"(^|/)mAP$", r"(^|/)bbox_mAP$", r"(^|/)bbox_mAP_50$", r"(^|/)bbox_mAP_75$",
    r"(^|/)mATE$", r"(^|/)mASE$", r"(^|/)mAOE$", r"(^|/)mAVE$", r"(^|/)mAAE$", r"(^|/)segm_mAP$",
    r"(^|/)mIoU$", r"(^|/)AP@?\d", r"recall", r"(^|/)AP$",
)]


def headline_metrics(runs, limit: int = MAX_SUBPLOTS) -> list[str]:
    """Metric names to draw: the known headline ones in a fixed order; when fewer than
    four are known, the first others by appearance."""
    seen: list[str] = []
    for run in runs:
        if len(run.evals):
            for name in run.evals["metric"].unique().tolist():
                if name not in seen:
                    seen.append(name)
    chosen = []
    for pattern in HEADLINE:
        for name in seen:
            if name not in chosen and pattern.search(name):
                chosen.append(name)
    for name in seen:
        if len(chosen) >= limit:
            break
        if name not in chosen and len(chosen) < 4:
            chosen.append(name)
    return chosen[:limit]


def evals_panel(ctx: Context) -> dict:
    import numpy as np

    names = headline_metrics(ctx.runs)
    note = "Evaluation metrics at each evaluation, on the same x axis; headline metrics only."
    if not names:
        return panel("panel-evals", "Evaluation metrics", note, None, "No run has evaluation lines.")
    names_by_run = [set(r.evals["metric"].unique().tolist()) if len(r.evals) else set() for r in ctx.runs]
    total = len(set().union(*names_by_run))
    if total > len(names):
        note += f" {len(names)} of {total} metrics shown (bevlog compare --metric NAME gives any)."
    layout, refs = subplot_grid(ctx, len(names), 3 if len(names) > 4 else 2, names, row_height=200)
    traces, legend_done = [], set()
    for name, axes in zip(names, refs):
        for (run, label), present in zip(ctx.pairs(), names_by_run):
            if name not in present:
                continue
            curve = metric_curve(run, label, name, ctx.align, 0.0, ctx.overrides)
            if curve is None or not np.isfinite(curve.y).any():
                continue
            trace = line(curve.x, curve.y, ctx, label, axes=axes, width=1.6, mode="lines+markers",
                         legend=label not in legend_done, hover_name=label)
            legend_done.add(label)
            traces.append(trace)
    return panel("panel-evals", "Evaluation metrics", note, {"data": traces, "layout": layout})
