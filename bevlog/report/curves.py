"""Single-axis panels: total loss, learning rate, gradient norm."""

from __future__ import annotations

import math

import numpy as np

from bevlog.compare import metric_curve
from bevlog.report.bands import band_traces, group_mean_sd, group_of, member_line
from bevlog.report.html import plot_text
from bevlog.report.style import (
    Context,
    base_layout,
    line,
    log_ticks,
    nonfinite_marks,
    nonfinite_spans,
    overlay_axis,
    robust_top,
)


def panel(pid: str, title: str, note: str, figure: dict | None, message: str = "") -> dict:
    """A report section: a figure (or, when no run has the data, a message instead)."""
    return {"id": pid, "title": title, "note": note, "figure": figure, "message": message}


def loss_panel(ctx: Context) -> dict:
    """Total loss: every logged row faint, the EMA solid; × along the top where it was nan/inf.
    A group of seeded runs: its members' EMA thin, its mean ± sd as a band."""
    traces, curves, by_label = [], [], {}
    for run, label in ctx.pairs():
        curve = metric_curve(run, label, "loss", ctx.align, ctx.weight, ctx.overrides)
        if curve is None or not len(curve.x):
            continue
        curves.append(curve)
        by_label[label] = curve
        group = group_of(ctx, label)
        if group is not None:
            traces.append(member_line(curve.x, curve.smooth, ctx, label, group))
        else:
            traces.append(line(curve.x, curve.y, ctx, label, raw=True))
            traces.append(line(curve.x, curve.smooth, ctx, label))
        marks = nonfinite_marks(curve.x, curve.y, ctx, label, "loss")
        if marks:
            traces.append(marks)
    for group in ctx.multi_groups():
        band = group_mean_sd([by_label.get(lab) for lab in group.labels])
        if band is not None:
            traces.extend(band_traces(*band, ctx, group))
    smooth = f"EMA {ctx.weight:g}" if ctx.weight else "no smoothing"
    note = (
        f"Faint: every logged row (each a mean over the logging interval). Solid: {smooth}. "
        "× along the top: a row whose loss was nan/inf."
    )
    if ctx.multi_groups():
        note += " A group of runs that differ only in their seed: its mean with a ± 1 sd band, its runs thin."
    if not traces:
        return panel("panel-loss", "Total loss", note, None, "No run logs a total loss.")
    layout = base_layout(ctx, 420, "loss")
    layout["yaxis2"] = overlay_axis()
    top = robust_top(curves)
    if top is not None:
        bottom = min(float(c.smooth[c.smooth == c.smooth].min()) for c in curves)
        pad = 0.04 * (top - bottom)
        layout["yaxis"]["range"] = [bottom - pad, top + pad]
        note += " The first few % of training are above the initial view: double-click to see all."
    return panel("panel-loss", "Total loss", note, {"data": traces, "layout": layout})


def lr_panel(ctx: Context) -> dict:
    traces, values = [], []
    for run, label in ctx.pairs():
        curve = metric_curve(run, label, "lr", ctx.align, 0.0, ctx.overrides)
        if curve is None or not np.isfinite(curve.y).any():
            continue
        y = np.where(curve.y > 0, curve.y, np.nan)  # log axis; a json log can round a tiny lr to 0
        traces.append(line(curve.x, y, ctx, label, width=1.8))
        values.append(y)
    note = "Learning rate of parameter group 0 as logged, log scale: warmup, steps and restarts show here."
    if not traces:
        return panel("panel-lr", "Learning rate", note, None, "No run logs a learning rate.")
    layout = base_layout(ctx, 300, "lr", y_log=True)
    log_ticks(layout, values)
    return panel("panel-lr", "Learning rate", note, {"data": traces, "layout": layout})


def grad_panel(ctx: Context) -> dict:
    """grad_norm on a log axis; bands and × mark the intervals where it was nan/inf; a dashed
    line at each run's grad_clip max_norm (the norm above which the gradient is scaled down)."""
    traces, shapes, values = [], [], []
    x_seen = []
    for run, label in ctx.pairs():
        curve = metric_curve(run, label, "grad_norm", ctx.align, ctx.weight, ctx.overrides)
        if curve is None or not np.isfinite(curve.y).any():
            continue
        y = np.where(curve.y > 0, curve.y, np.nan)
        values.append(y)
        x_seen.append(curve.x)
        traces.append(line(curve.x, y, ctx, label, raw=True))
        traces.append(line(curve.x, np.where(curve.smooth > 0, curve.smooth, np.nan), ctx, label))
        marks = nonfinite_marks(curve.x, curve.y, ctx, label, "grad_norm")
        if marks:
            traces.append(marks)
            shapes += nonfinite_spans(curve.x, curve.y, ctx.colors[label])
    note = (
        "Gradient norm before clipping (logged only when clipping is on), log scale. Shaded bands "
        "and × mark logging intervals whose grad_norm was nan/inf: with fp16 such steps are skipped "
        "(benign while the loss keeps falling)."
    )
    if not traces:
        return panel(
            "panel-grad",
            "Gradient norm",
            note,
            None,
            "No run logs grad_norm (mmcv logs it only when grad clipping is configured).",
        )
    clip_lines = max_norm_lines(ctx, x_seen)
    if clip_lines:
        traces.extend(clip_lines)
        values.append(np.array([t["y"][0] for t in clip_lines]))
        note += " Dashed: the grad_clip max_norm of the config (norms above it were scaled down to it)."
    layout = base_layout(ctx, 320, "grad_norm", y_log=True)
    layout["yaxis2"] = overlay_axis()
    layout["shapes"] = shapes
    log_ticks(layout, values)
    return panel("panel-grad", "Gradient norm", note, {"data": traces, "layout": layout})


def max_norm_lines(ctx: Context, xs) -> list[dict]:
    """One dashed line per distinct grad_clip max_norm, across the x range of the curves;
    named with the runs it belongs to when the runs do not all share it."""
    by_value: dict = {}
    for run, label in ctx.pairs():
        clip = run.meta.grad_clip
        if isinstance(clip, (int, float)) and not isinstance(clip, bool) and math.isfinite(clip) and clip > 0:
            by_value.setdefault(float(clip), []).append(label)
    finite = [x[np.isfinite(x)] for x in xs]
    finite = [x for x in finite if len(x)]
    if not by_value or not finite:
        return []
    x0, x1 = min(float(x.min()) for x in finite), max(float(x.max()) for x in finite)
    out = []
    for value, labels in by_value.items():
        every = len(labels) == len(ctx.labels)
        color = "#555555" if every or len(by_value) == 1 else ctx.colors[labels[0]]
        who = "" if every else f" ({', '.join(labels[:3])}{' …' if len(labels) > 3 else ''})"
        name = f"grad_clip max_norm {value:g}{who}"
        out.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [x0, x1],
                "y": [value, value],
                "xaxis": "x",
                "yaxis": "y",
                "name": plot_text(name),
                "showlegend": True,
                "line": {"color": color, "width": 1.4, "dash": "dash"},
                "hovertemplate": f"{plot_text(name)}<extra></extra>",
            }
        )
    return out
