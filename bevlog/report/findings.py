"""Draw diagnosis findings on the report's curves: the one place that knows about Findings.

A finding (bevlog.findings.Finding) spans [start_step, end_step] / [start_epoch, end_epoch]
of one run. On the loss panel it becomes a shaded span in its severity's colour with an
onset marker on that run's smoothed curve (hover: the message); LR steps become dotted
vertical lines on the loss and lr panels; gradient findings are repeated on grad_norm.
Whole-run findings (no span) are only listed.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from bevlog.align import step_to_x
from bevlog.compare import metric_curve
from bevlog.comparestats import value_at
from bevlog.fixes import plan_of
from bevlog.report.html import esc, plot_text
from bevlog.report.style import SEVERITY_COLOR
from bevlog.verdict import verdict

MAX_SHAPES = 200
SYMBOL = {"error": "diamond", "warning": "triangle-up", "info": "circle"}


def finding_x(ctx, run, step, epoch):
    """A finding's step (or fractional epoch) on the report's x axis; None when unknown."""
    if ctx.align == "epochs" and epoch is not None and math.isfinite(epoch):
        return float(epoch)
    if step is None and epoch is not None:
        ipe = run.meta.iters_per_epoch
        step = epoch * ipe if ipe else None
    if step is None:
        return None
    value = float(step_to_x(run, [step], ctx.align, ctx.overrides)[0])
    return value if math.isfinite(value) else None


def add_findings(panels: list[dict], findings, ctx) -> int:
    """Overlay `findings` on the panels (by id) in place; returns how many were drawn."""
    by_id = {p["id"]: p for p in panels if p.get("figure")}
    runs = {run.name: (run, label) for run, label in ctx.pairs()}
    loss_curves = {}
    marks: dict[str, list] = {}
    drawn = 0
    for f in findings:
        if f.run not in runs:
            continue
        run, label = runs[f.run]
        x0 = finding_x(ctx, run, f.start_step, f.start_epoch)
        if x0 is None:
            continue
        x1 = finding_x(ctx, run, f.end_step, f.end_epoch)
        rule = f.rule.replace("_", "-")
        color = SEVERITY_COLOR.get(f.severity, "#7f7f7f")
        if "lr" in rule and ("drop" in rule or "step" in rule):
            for pid in ("panel-loss", "panel-lr"):
                _shape(
                    by_id.get(pid),
                    {
                        "type": "line",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x0,
                        "x1": x0,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": ctx.colors[label], "width": 1.2, "dash": "dot"},
                    },
                )
        else:
            targets = ["panel-loss"] + (["panel-grad"] if "grad" in rule else [])
            for pid in targets:
                if x1 is not None and x1 > x0 and f.severity != "info":  # info: a line, no shading
                    _shape(
                        by_id.get(pid),
                        {
                            "type": "rect",
                            "xref": "x",
                            "yref": "paper",
                            "x0": x0,
                            "x1": x1,
                            "y0": 0,
                            "y1": 1,
                            "fillcolor": color,
                            "opacity": 0.10,
                            "line": {"width": 0},
                            "layer": "below",
                        },
                    )
                _shape(
                    by_id.get(pid),
                    {
                        "type": "line",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x0,
                        "x1": x0,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": color, "width": 1.2, "dash": "dash"},
                    },
                )
        if label not in loss_curves:
            loss_curves[label] = metric_curve(run, label, "loss", ctx.align, ctx.weight, ctx.overrides)
        curve = loss_curves[label]
        y = value_at(curve, x0) if curve is not None else None
        text = f"{f.severity} · {label} · {f.rule}<br>{f.message}"
        if getattr(f, "fix", None) is not None:
            text += f"<br>fix: {f.fix.text}"
        marks.setdefault(f.severity, []).append((x0, np.nan if y is None else y, _wrap(text)))
        drawn += 1
    loss = by_id.get("panel-loss")
    if loss is not None:
        for severity, items in marks.items():
            loss["figure"]["data"].append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": plot_text(f"findings: {severity}"),
                    "x": [i[0] for i in items],
                    "y": [None if i[1] != i[1] else i[1] for i in items],
                    "hovertext": [i[2] for i in items],
                    "hovertemplate": "%{hovertext}<extra></extra>",
                    "marker": {
                        "symbol": SYMBOL.get(severity, "circle"),
                        "size": 11,
                        "color": SEVERITY_COLOR.get(severity, "#7f7f7f"),
                        "line": {"color": "#ffffff", "width": 1},
                    },
                    "legendgroup": "findings",
                }
            )
    return drawn


def _wrap(text: str, width: int = 90) -> str:
    """Escape for plotly, then break long lines (plotly hover labels do not wrap)."""
    parts = []
    for chunk in text.split("<br>"):
        parts.extend(textwrap.wrap(plot_text(chunk), width, break_long_words=False, break_on_hyphens=False) or [""])
    return "<br>".join(parts)


def _shape(panel, shape) -> None:
    if panel is None:
        return
    shapes = panel["figure"]["layout"].setdefault("shapes", [])
    if len(shapes) < MAX_SHAPES:
        shapes.append(shape)


def verdicts_html(runs, findings, labels_by_name: dict) -> str:
    """One verdict line per run, the same as `bevlog diagnose` prints (bevlog.verdict over the run's
    findings and its one plan, made consistent against the run), escaped; a list."""
    by_run: dict = {}
    for f in findings:
        by_run.setdefault(f.run, []).append(f)
    items = []
    for run in runs:
        mine = by_run.get(run.name, [])
        plan = plan_of(mine, run)
        judged = verdict(mine, plan.summary(), run.train is not None and len(run.train) > 0)
        label = labels_by_name.get(run.name, run.name)
        items.append(
            f'<li data-run="{esc(run.name)}"><span class="name">{esc(label)}</span> — '
            f'<strong class="verdict verdict-{esc(judged.status.replace(" ", "-"))}">{esc(judged.status)}'
            f"</strong> — {esc(judged.line.split(' — ', 1)[1])}</li>"
        )
    return f'<ul id="verdicts">{"".join(items)}</ul>'
