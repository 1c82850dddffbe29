"""A group of seeded runs drawn as one arm: its mean and a mean ± sd band.

The members' curves (smoothed train values, evaluations as logged) are put on common x:
for train curves the first member's x within the range every member covers (the members
interpolated there), for evaluations the points every member evaluated at. The sd is the
sample sd over the members at each x; nothing is drawn where fewer than two members have
a value.
"""

from __future__ import annotations

import numpy as np

from bevlog.report.html import plot_text, typed_array
from bevlog.report.style import Context, hex_rgba, line


def group_mean_sd(curves):
    """(x, mean, sd) over the members' curves (bevlog.comparestats.Curve), or None."""
    usable = []
    for c in curves:
        if c is None:
            continue
        keep = np.isfinite(c.smooth)
        if keep.sum() >= 1:
            usable.append((c.x[keep], c.smooth[keep], c.source))
    if len(usable) < 2:
        return None
    if all(src == "evals" for _, _, src in usable):
        common = set(np.round(usable[0][0], 6))
        for x, _, _ in usable[1:]:
            common &= set(np.round(x, 6))
        x = np.array(sorted(common), dtype=float)
        if not len(x):
            return None
        values = np.array([[float(y[np.isclose(xs, v, atol=1e-6)][0]) for v in x] for xs, y, _ in usable])
    else:
        start = max(float(xs[0]) for xs, _, _ in usable)
        end = min(float(xs[-1]) for xs, _, _ in usable)
        if end < start:
            return None
        x = usable[0][0]
        x = x[(x >= start) & (x <= end)]
        if len(x) < 2:
            return None
        values = np.array([np.interp(x, xs, y) for xs, y, _ in usable])
    return x, values.mean(axis=0), values.std(axis=0, ddof=1)


def band_traces(
    x,
    mean,
    sd,
    ctx: Context,
    group,
    axes=("x", "y"),
    legend: bool = True,
    hover_name: str | None = None,
    markers: bool = False,
) -> list[dict]:
    """The band (upper edge, then the lower edge filled up to it) and the mean line."""
    color = ctx.colors[group.labels[0]]
    name = f"{group.name} mean ± sd (n={group.n})"
    common = {
        "xaxis": axes[0],
        "yaxis": axes[1],
        "legendgroup": plot_text(group.name),
        "showlegend": False,
        "hoverinfo": "skip",
        "connectgaps": False,
    }
    upper = {
        "type": "scatter",
        "mode": "lines",
        "x": typed_array(x),
        "y": typed_array(mean + sd),
        "line": {"width": 0, "color": color},
        "name": plot_text(name + " upper"),
        **common,
    }
    lower = {
        "type": "scatter",
        "mode": "lines",
        "x": typed_array(x),
        "y": typed_array(mean - sd),
        "line": {"width": 0, "color": color},
        "fill": "tonexty",
        "fillcolor": hex_rgba(color, 0.22),
        "name": plot_text(name + " lower"),
        **common,
    }
    mid = line(
        x,
        mean,
        ctx,
        group.labels[0],
        axes=axes,
        width=2.4,
        legend=legend,
        hover_name=hover_name or name,
        mode="lines+markers" if markers else "lines",
    )
    mid["name"] = plot_text(name)
    mid["legendgroup"] = plot_text(group.name)
    mid["customdata"] = [float(v) for v in np.asarray(sd, dtype=float)]
    mid["hovertemplate"] = f"{plot_text(hover_name or name)}: %{{y:.4~g}} ± %{{customdata:.2~g}}<extra></extra>"
    return [upper, lower, mid]


def member_line(x, y, ctx: Context, label: str, group, axes=("x", "y"), mode: str = "lines") -> dict:
    """A member of a group: thin and faint under its group's mean, out of the legend."""
    trace = line(x, y, ctx, label, axes=axes, width=1.0, legend=False, hover_name=label, mode=mode)
    trace["opacity"] = 0.45
    trace["legendgroup"] = plot_text(group.name)
    return trace


def group_of(ctx: Context, label: str):
    return next((g for g in ctx.multi_groups() if label in g.labels), None)
