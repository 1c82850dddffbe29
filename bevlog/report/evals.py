"""Evaluation metrics: headline metrics first (NDS, mAP, the nuScenes errors, COCO mAP).

A nuScenes orientation error has a chance level: a uniformly random yaw is off by |Δyaw|
uniform on [0, π], mean π/2, for every class but the barrier, whose orientation has period π
(error uniform on [0, π/2], mean π/4); the traffic cone has none. mAOE averages the nine
classes that have one: (8 · π/2 + π/4) / 9 = 17π/36 ≈ 1.484 rad. A class without a true
positive scores 1.0 there (nuScenes' cap), so a curve below the line is no proof of learning.
"""

from __future__ import annotations

import math
import re

import numpy as np

from bevlog.compare import metric_curve
from bevlog.report.bands import band_traces, group_mean_sd, group_of, member_line
from bevlog.report.curves import panel
from bevlog.report.html import plot_text
from bevlog.report.style import Context, line, subplot_grid

MAX_SUBPLOTS = 9
HEADLINE = [
    re.compile(p)
    for p in (
        r"(^|/)NDS$",
        r"(^|/)mAP$",
        r"(^|/)bbox_mAP$",
        r"(^|/)bbox_mAP_50$",
        r"(^|/)bbox_mAP_75$",
        r"(^|/)mATE$",
        r"(^|/)mASE$",
        r"(^|/)mAOE$",
        r"(^|/)mAVE$",
        r"(^|/)mAAE$",
        r"(^|/)segm_mAP$",
        r"(^|/)mIoU$",
        r"(^|/)AP@?\d",
        r"recall",
        r"(^|/)AP$",
    )
]


MAOE_CHANCE = 17 * math.pi / 36
_CLASS_AOE = re.compile(r"(?:^|/)(\w+?)_(?:orient_err|AOE)$")


def chance_level(metric: str) -> tuple[float, str] | None:
    """(value, label) of a uniformly random yaw for a nuScenes orientation error; else None."""
    if re.search(r"(^|/)mAOE$", metric):
        return MAOE_CHANCE, "chance: random yaw (17π/36 = 1.48 rad over the 9 classes; π/4 for barrier)"
    m = _CLASS_AOE.search(metric)
    if m and m.group(1) != "traffic_cone":
        if m.group(1) == "barrier":
            return math.pi / 4, "chance: random yaw (π/4: a barrier's orientation has period π)"
        return math.pi / 2, "chance: random yaw (π/2)"
    return None


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
    names = headline_metrics(ctx.runs)
    note = "Evaluation metrics at each evaluation, on the same x axis; headline metrics only."
    if not names:
        return panel("panel-evals", "Evaluation metrics", note, None, "No run has evaluation lines.")
    names_by_run = [set(r.evals["metric"].unique().tolist()) if len(r.evals) else set() for r in ctx.runs]
    total = len(set().union(*names_by_run))
    if total > len(names):
        note += f" {len(names)} of {total} metrics shown (bevlog compare --metric NAME gives any)."

    layout, refs = subplot_grid(ctx, len(names), 3 if len(names) > 4 else 2, names, row_height=200)
    traces, legend_done, chance_drawn = [], set(), False
    for name, axes in zip(names, refs):
        by_label, xs = {}, []
        for (run, label), present in zip(ctx.pairs(), names_by_run):
            if name not in present:
                continue
            curve = metric_curve(run, label, name, ctx.align, 0.0, ctx.overrides)
            if curve is None or not np.isfinite(curve.y).any():
                continue
            by_label[label] = curve
            xs.append(curve.x)
            group = group_of(ctx, label)
            if group is not None:
                traces.append(member_line(curve.x, curve.y, ctx, label, group, axes=axes, mode="lines+markers"))
                continue
            trace = line(
                curve.x,
                curve.y,
                ctx,
                label,
                axes=axes,
                width=1.6,
                mode="lines+markers",
                legend=label not in legend_done,
                hover_name=label,
            )
            legend_done.add(label)
            traces.append(trace)
        for group in ctx.multi_groups():
            band = group_mean_sd([by_label.get(lab) for lab in group.labels])
            if band is not None:
                traces.extend(
                    band_traces(
                        *band,
                        ctx,
                        group,
                        axes=axes,
                        legend=group.name not in legend_done,
                        hover_name=f"{group.name} (n={group.n})",
                        markers=True,
                    )
                )
                legend_done.add(group.name)
        chance = chance_level(name)
        if chance is not None and xs:
            traces.append(chance_line(chance, xs, axes))
            chance_drawn = True
    if chance_drawn:
        note += (
            " Dotted on an orientation error: what a uniformly random yaw scores (nuScenes: mAOE "
            "17π/36 ≈ 1.48 rad; a class with no true positive scores 1.0, so below the line is not "
            "proof of learning)."
        )
    if ctx.multi_groups():
        note += " A group of seeded runs: its mean ± 1 sd, its runs thin."
    return panel("panel-evals", "Evaluation metrics", note, {"data": traces, "layout": layout})


def chance_line(chance, xs, axes) -> dict:
    value, label = chance
    x0 = min(float(np.nanmin(x)) for x in xs if len(x))
    x1 = max(float(np.nanmax(x)) for x in xs if len(x))
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [x0, x1],
        "y": [value, value],
        "xaxis": axes[0],
        "yaxis": axes[1],
        "name": plot_text(label),
        "showlegend": False,
        "line": {"color": "#7f7f7f", "width": 1.4, "dash": "dot"},
        "hovertemplate": f"{plot_text(label)}: {value:.3f}<extra></extra>",
    }
