"""Per-decoder-layer losses: a layer × time heatmap per run and loss term.

Colour is each layer's loss relative to the mean over the layers at the same moment, so
the time trend drops out and what remains is the question a person asks: do the deep
layers beat the shallow ones? Blue = lower than the layer average (better), red = higher.
In a healthy decoder the rows turn bluer towards the top (the final layer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bevlog.align import frame_x
from bevlog.report.curves import panel
from bevlog.report.html import plot_text, typed_array
from bevlog.report.style import Context, subplot_grid
from parsers import group_terms, term_wide

MAX_SUBPLOTS = 20
TIME_BINS = 160
COLORSCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"], [1.0, "#b2182b"]]


def layer_groups(run) -> list:
    """The (group, term) pairs of `run.layers`."""
    return group_terms(run)


def layer_matrix(run, group_term, ctx: Context):
    """(x of each time bin, layer ids, values[layer, bin] = mean over the bin) for one
    group/term of `run.layers`; None when fewer than two layers were logged. Read in wide
    form (parsers.layers.term_wide): the long frame of the term is never built."""
    step, epoch_f, layer, value, present = term_wide(run, group_term)
    carried = present.any(axis=0)
    layer_ids = np.unique(np.asarray(layer, dtype=int)[carried]) if carried.any() else np.zeros(0, int)
    if len(layer_ids) < 2:
        return None
    rows = present.any(axis=1)
    step, epoch_f, value, present = step[rows], epoch_f[rows], value[rows], present[rows]
    steps, col = np.unique(step, return_inverse=True)
    probe = pd.DataFrame({"step": steps})
    epoch_of_step = np.full(len(steps), np.nan)
    epoch_of_step[col] = epoch_f  # a step logged twice: its later row, as in the long frame
    probe["epoch_f"] = epoch_of_step
    x = frame_x(run, probe, ctx.align, ctx.overrides)
    ok = np.isfinite(x)
    if not ok.any():
        return None
    nbins = min(TIME_BINS, int(ok.sum()))
    lo, hi = float(x[ok].min()), float(x[ok].max())
    edges = np.linspace(lo, hi, nbins + 1)
    bin_of_step = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nbins - 1)
    size = len(layer_ids) * nbins
    sums, counts = np.zeros(size), np.zeros(size, np.int64)
    for j, k in enumerate(layer):
        v = value[:, j]
        use = present[:, j] & np.isfinite(v) & ok[col]
        flat = int(np.searchsorted(layer_ids, k)) * nbins + bin_of_step[col[use]]
        sums += np.bincount(flat, weights=v[use], minlength=size)
        counts += np.bincount(flat, minlength=size)
    sums, counts = sums.reshape(len(layer_ids), nbins), counts.reshape(len(layer_ids), nbins)
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = sums / counts
    centers = (edges[:-1] + edges[1:]) / 2
    used = counts.sum(axis=0) > 0
    return centers[used], [int(k) for k in layer_ids], binned[:, used]


def layers_panel(ctx: Context) -> dict:
    note = (
        "Each decoder layer's loss relative to the mean over all layers at that moment "
        "(time trend removed). Blue: lower than the layer average, red: higher. A healthy decoder "
        "is bluer towards the top row (the final layer); equal colours mean the extra layers add nothing."
    )
    # the main decoder's terms of every run first, then denoising/encoder/frame groups
    items = []
    for order, (run, label) in enumerate(ctx.pairs()):
        for group, term in layer_groups(run):
            side = bool({"dn", "enc"} & set(group.split("_")))  # denoising / encoder queries
            items.append(((side, order, group, term), run, label, group, term))
    items.sort(key=lambda item: item[0])
    mats, truncated = [], False
    for _, run, label, group, term in items:
        if len(mats) >= MAX_SUBPLOTS:
            truncated = True
            break
        m = layer_matrix(run, (group, term), ctx)
        if m is not None:
            mats.append((label, group, term, m))
    if truncated:
        note += f" Only the first {MAX_SUBPLOTS} run × term heatmaps are drawn."
    if not mats:
        return panel(
            "panel-layers",
            "Decoder layers",
            note,
            None,
            "No run logs per-decoder-layer losses (no dK.loss_* keys: auxiliary losses off?).",
        )
    titles = [f"{label} · {(group + ' ') if group else ''}{term}" for label, group, term, _ in mats]
    layout, refs = subplot_grid(ctx, len(mats), 2 if len(mats) > 1 else 1, titles, row_height=190, share_x=True)
    devs = []
    traces = []
    for (label, _group, term, (x, layer_ids, values)), (xref, yref) in zip(mats, refs):
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(values, axis=0)
            dev = 100.0 * (values / np.where(np.abs(mean) > 0, mean, np.nan) - 1.0)
        devs.append(dev[np.isfinite(dev)])
        n = len(layer_ids)
        ticks = [f"{k}" if k != layer_ids[-1] else f"{k} final" for k in layer_ids]
        traces.append(
            {
                "type": "heatmap",
                "x": typed_array(x),
                "y": list(range(n)),
                "z": typed_array(dev),
                "customdata": typed_array(values),
                "xaxis": xref,
                "yaxis": yref,
                "coloraxis": "coloraxis",
                "name": plot_text(label),
                "hovertemplate": (
                    f"{plot_text(label)} · {plot_text(term)}<br>layer %{{y}}<br>x %{{x:.4~g}}<br>"
                    "%{customdata:.4~g} (%{z:+.1f}% vs layer mean)<extra></extra>"
                ),
                "hoverongaps": False,
            }
        )
        layout[yref.replace("y", "yaxis")].update(
            {"tickmode": "array", "tickvals": list(range(n)), "ticktext": ticks, "title": {"text": "layer"}}
        )
    spread = np.concatenate(devs) if devs else np.array([1.0])
    limit = float(np.percentile(np.abs(spread), 98)) if len(spread) else 1.0
    limit = max(limit, 0.5)
    layout["coloraxis"] = {
        "colorscale": COLORSCALE,
        "cmin": -limit,
        "cmax": limit,
        "colorbar": {"title": {"text": "% vs<br>layer mean"}, "thickness": 12, "len": 0.6},
    }
    layout["hovermode"] = "closest"
    return panel("panel-layers", "Decoder layers", note, {"data": traces, "layout": layout})
