"""What every panel shares: the context (runs, labels, colours, axis), layouts and traces.

Figures are plain dicts in plotly.js's JSON shape; building plotly.graph_objects
would validate every number again and cost more than the whole report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bevlog.align import AXIS_TITLE
from bevlog.report.downsample import DEFAULT_MAX_POINTS, thin
from bevlog.report.html import plot_text, typed_array

# Tableau 10: distinct, colour-blind friendlier than plotly's default, readable on white.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"]
SEVERITY_COLOR = {"error": "#d62728", "warning": "#ff7f0e", "info": "#7f7f7f"}
GRID = "#eceff2"
FONT = {
    "family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif",
    "size": 12,
    "color": "#1d232a",
}


@dataclass
class Context:
    """The runs and the choices every panel shares (one alignment, one colour per run)."""

    runs: list
    labels: list
    align: str = "epochs"
    weight: float = 0.6
    overrides: dict = field(default_factory=dict)
    max_points: int | None = DEFAULT_MAX_POINTS
    x_range: list | None = None
    colors: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)  # bevlog.groups.Group; runs of a group share a colour

    def __post_init__(self):
        if not self.colors:
            units = [g.labels for g in self.groups] if self.groups else [[lab] for lab in self.labels]
            for i, labels in enumerate(units):
                for lab in labels:
                    self.colors[lab] = PALETTE[i % len(PALETTE)]

    def pairs(self):
        return zip(self.runs, self.labels)

    def multi_groups(self) -> list:
        """The groups of two runs or more (drawn as mean ± sd)."""
        return [g for g in self.groups if g.n > 1]

    def grouped(self, label: str) -> bool:
        """The run is a member of a group of two or more (drawn faint under its group's mean)."""
        return any(label in g.labels for g in self.multi_groups())


def x_title(ctx: Context) -> str:
    return AXIS_TITLE[ctx.align]


def base_layout(ctx: Context, height: int, y_title: str = "", y_log: bool = False) -> dict:
    return {
        "height": height,
        "margin": {"l": 64, "r": 24, "t": 36, "b": 44},
        "font": FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "hoverlabel": {"namelength": 40},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
        "xaxis": axis(ctx, x_title(ctx), with_range=True),
        "yaxis": {
            "title": {"text": plot_text(y_title)},
            "type": "log" if y_log else "linear",
            "gridcolor": GRID,
            "zeroline": False,
            "exponentformat": "e" if y_log else "B",
        },
    }


def axis(ctx: Context, title: str, with_range: bool = True) -> dict:
    ax = {"title": {"text": plot_text(title)}, "gridcolor": GRID, "zeroline": False}
    if with_range and ctx.x_range:
        ax["range"] = list(ctx.x_range)
    return ax


def line(
    x,
    y,
    ctx: Context,
    label: str,
    *,
    raw: bool = False,
    name: str | None = None,
    axes: tuple[str, str] = ("x", "y"),
    legend: bool = True,
    width: float = 2.0,
    hover_name: str | None = None,
    mode: str = "lines",
) -> dict:
    """One run's curve, thinned for display. Raw curves are faint and stay out of the hover."""
    tx, ty = thin(x, y, ctx.max_points)
    color = ctx.colors[label]
    trace = {
        "type": "scatter",
        "mode": mode,
        "x": typed_array(tx),
        "y": typed_array(ty),
        "name": plot_text(name or label),
        "legendgroup": plot_text(label),
        "showlegend": legend and not raw,
        "xaxis": axes[0],
        "yaxis": axes[1],
        "line": {"color": color, "width": 1.0 if raw else width},
        "connectgaps": False,
    }
    if "markers" in mode:
        trace["marker"] = {"color": color, "size": 6}
    if raw:
        trace["opacity"] = 0.28
        trace["hoverinfo"] = "skip"
    else:
        trace["hovertemplate"] = f"{plot_text(hover_name or name or label)}: %{{y:.4~g}}<extra></extra>"
        trace["name"] = plot_text(name or label)
    return trace


def nonfinite_marks(x, y, ctx: Context, label: str, what: str, axes=("x", "y2")) -> dict | None:
    """× markers along the top of a panel where a logged value was nan/inf."""
    y = np.asarray(y, dtype=float)
    bad = ~np.isfinite(y)
    if not bad.any() or bad.all():  # all missing: the run does not log it at all
        return None
    xs = np.asarray(x)[bad]
    return {
        "type": "scatter",
        "mode": "markers",
        "x": typed_array(xs),
        "y": typed_array(np.full(len(xs), 0.96)),
        "xaxis": axes[0],
        "yaxis": axes[1],
        "name": plot_text(f"{label}: {what} nan/inf"),
        "legendgroup": plot_text(label),
        "showlegend": False,
        "marker": {
            "symbol": "x-thin-open",
            "size": 9,
            "line": {"width": 2, "color": ctx.colors[label]},
            "color": ctx.colors[label],
        },
        "hovertemplate": f"{plot_text(label)}: {plot_text(what)} non-finite<extra></extra>",
    }


def nonfinite_spans(x, y, color: str, limit: int = 300) -> list[dict]:
    """Shaded vertical bands over each stretch of consecutive non-finite rows."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    bad = ~np.isfinite(y)
    if not bad.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.astype(np.int8), [0]])))
    shapes = []
    for start, stop in zip(edges[::2], edges[1::2]):
        x0 = x[start - 1] if start > 0 else x[start]  # the bad interval began after the last good row
        x1 = x[stop - 1]
        if x1 <= x0:
            x1 = x0 + (abs(x0) * 1e-3 or 1e-3)
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": float(x0),
                "x1": float(x1),
                "y0": 0,
                "y1": 1,
                "fillcolor": color,
                "opacity": 0.13,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if len(shapes) >= limit:
            break
    return shapes


def overlay_axis() -> dict:
    """A hidden 0..1 y axis on top of the main one, for marks placed along the top edge."""
    return {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}


def log_ticks(layout: dict, values, axis: str = "yaxis") -> None:
    """Explicit tick labels on a log axis that read the same in the browser and in a PNG:
    `1e-4 2e-4 5e-4 1e-3` — every digit per decade when the data spans at most one decade,
    1-2-5 up to three, every decade beyond; plain numbers between 0.01 and 10,000 (`0.05`,
    `2`, `50`)."""
    parts = [np.asarray(v, dtype=float) for v in values]
    parts = [v[np.isfinite(v) & (v > 0)] for v in parts]
    parts = [v for v in parts if len(v)]
    if not parts:
        return
    allv = np.concatenate(parts)
    lo, hi = float(allv.min()), float(allv.max())
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    span = math.log10(hi / lo)
    steps = tuple(range(1, 10)) if span <= 1 else (1, 2, 5) if span <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in steps]
    inside = [t for t in ticks if lo <= t <= hi]
    margin = [t for t in ticks if lo / 1.5 <= t <= hi * 1.5]
    ticks = margin if len(inside) >= 2 else [t for t in ticks if lo / 10 <= t <= hi * 10]
    ticks = [t for t in ticks if math.isfinite(t)]  # an lr of 1e308 has no decade above it
    layout[axis].update({"tickmode": "array", "tickvals": ticks, "ticktext": [tick_text(t) for t in ticks]})
    layout[axis].pop("dtick", None)


def tick_text(v: float) -> str:
    """`1e-4`, `2e-3`, `0.05`, `2`, `500`, `2e+4` → `2e4`: short, no superscripts."""
    if 0.01 <= v < 1e4 or not math.isfinite(v):
        return f"{v:g}"
    mantissa, exponent = f"{v:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def hex_rgba(color: str, alpha: float) -> str:
    """'#4e79a7' -> 'rgba(78,121,167,0.2)' (band fills)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def robust_top(curves, skip_fraction: float = 0.03):
    """Upper y limit that ignores the first few % of each curve (the initial transient) —
    None when that would hide nothing."""
    parts, full = [], []
    for c in curves:
        s = c.smooth[np.isfinite(c.smooth)]
        if not len(s):
            continue
        full.append(s.max())
        parts.append(s[int(len(s) * skip_fraction) :])
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    top = float(np.percentile(np.concatenate(parts), 99.5))
    if top >= max(full) or top <= 0:
        return None
    return top


def subplot_grid(
    ctx: Context,
    n: int,
    cols: int,
    titles: list[str],
    row_height: int = 210,
    share_x: bool = True,
    y_title: str = "",
    y_log: bool = False,
    with_range: bool = True,
) -> tuple[dict, list[tuple[str, str]]]:
    """Layout with n small subplots in a grid; returns (layout, [(xref, yref)] per subplot)."""
    rows = -(-n // cols)
    title_px, gap_px, top_px, bottom_px = 22, 34, 40, 44
    height = top_px + bottom_px + rows * row_height + (rows - 1) * gap_px
    plot_h = height - top_px - bottom_px
    layout = base_layout(ctx, height)
    layout["margin"] = {"l": 64, "r": 24, "t": top_px, "b": bottom_px}
    layout.pop("xaxis")
    layout.pop("yaxis")
    layout["annotations"] = []
    hgap = 0.06
    width = (1 - hgap * (cols - 1)) / cols
    refs = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (width + hgap)
        y1 = 1 - (r * (row_height + gap_px)) / plot_h
        y0 = y1 - (row_height - title_px) / plot_h
        suffix = "" if i == 0 else str(i + 1)
        xa, ya = f"xaxis{suffix}", f"yaxis{suffix}"
        xref, yref = f"x{suffix}", f"y{suffix}"
        x_ax = axis(ctx, x_title(ctx) if r == rows - 1 or i + cols >= n else "", with_range)
        x_ax.update({"domain": [x0, x0 + width], "anchor": yref})
        if share_x and i:
            x_ax["matches"] = "x"
        layout[xa] = x_ax
        layout[ya] = {
            "domain": [max(y0, 0), min(y1 - title_px / plot_h, 1)],
            "anchor": xref,
            "gridcolor": GRID,
            "zeroline": False,
            "type": "log" if y_log else "linear",
            "title": {"text": plot_text(y_title)} if y_title and c == 0 else {"text": ""},
        }
        layout["annotations"].append(
            {
                "text": f"<b>{plot_text(titles[i])}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": x0,
                "y": min(y1, 1),
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 12},
            }
        )
        refs.append((xref, yref))
    return layout, refs
