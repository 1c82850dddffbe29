"""Per-decoder-layer losses: a layer × time heatmap per run and loss term.

Colour is each layer's loss relative to the mean over the layers at the same moment, so
the time trend drops out and what remains is the question a person asks: do the deep
layers beat the shallow ones? Blue = lower than the layer average (better), red = higher.
In a healthy decoder the rows turn bluer towards the top (the final layer).
"""
from __future__ import annotations

from bevlog.report.curves import panel
from bevlog.report.html import plot_text, typed_array
from bevlog.report.style import Context, subplot_grid

MAX_SUBPLOTS = 12
TIME_BINS = 160
COLORSCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"], [1.0, "#b2182b"]]


def layer_matrix(run, group: str, term: str, ctx: Context):
    """(x of each time bin, layers, values[layer, bin] mean over the bin) for one group/term."""
    import numpy as np

    from bevlog.align import frame_x

    layers = run.layers
    sel = layers[(layers["group"] == group) & (layers["term"] == term)]
    if sel.empty:
        return None
    wide = sel.pivot_table(index="step", columns="layer", values="value", aggfunc="mean", dropna=False)
    wide = wide.sort_index()
    if wide.shape[1] < 2:
        return None
    probe = wide.index.to_frame(index=False)
    if "epoch_f" in sel:
        probe["epoch_f"] = sel.groupby("step")["epoch_f"].first().reindex(wide.index).to_numpy()
    x = frame_x(run, probe, ctx.align, ctx.overrides)
    values = np.array(wide.to_numpy(dtype=float).T)  # (layers, rows), a writable copy
    values[~np.isfinite(values)] = np.nan
    ok = np.isfinite(x)
    x, values = x[ok], values[:, ok]
    if not len(x):
        return None
    nbins = min(TIME_BINS, len(x))
    edges = np.linspace(x[0], x[-1], nbins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nbins - 1)
    counts = np.zeros((values.shape[0], nbins))
    sums = np.zeros((values.shape[0], nbins))
    finite = np.isfinite(values)
    for k in range(values.shape[0]):
        np.add.at(sums[k], which[finite[k]], values[k, finite[k]])
        np.add.at(counts[k], which[finite[k]], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        binned = sums / counts
    centers = (edges[:-1] + edges[1:]) / 2
    used = counts.sum(axis=0) > 0
    return centers[used], [int(c) for c in wide.columns], binned[:, used]


def layers_panel(ctx: Context) -> dict:
    import numpy as np

    items = []
    for run, label in ctx.pairs():
        if run.layers is None or not len(run.layers):
            continue
        combos = run.layers[["group", "term"]].drop_duplicates().itertuples(index=False)
        for group, term in sorted(combos, key=lambda gt: (gt[0] != "", gt[0], gt[1])):
            items.append((run, label, group, term))
    note = ("Each decoder layer's loss relative to the mean over all layers at that moment "
            "(time trend removed). Blue: lower than the layer average, red: higher. A healthy decoder "
            "is bluer towards the top row (the final layer); equal colours mean the extra layers add nothing.")
    mats = []
    for run, label, group, term in items:
        m = layer_matrix(run, group, term, ctx)
        if m is not None:
            mats.append((label, group, term, m))
        if len(mats) >= MAX_SUBPLOTS:
            break
    if not mats:
        return panel("panel-layers", "Decoder layers", note, None,
                     "No run logs per-decoder-layer losses (no dK.loss_* keys: auxiliary losses off?).")
    titles = [f"{label} · {(group + ' ') if group else ''}{term}" for label, group, term, _ in mats]
    layout, refs = subplot_grid(ctx, len(mats), 2 if len(mats) > 1 else 1, titles, row_height=190,
                                share_x=True)
    devs = []
    traces = []
    for (label, group, term, (x, layer_ids, values)), (xref, yref) in zip(mats, refs):
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(values, axis=0)
            dev = 100.0 * (values / np.where(np.abs(mean) > 0, mean, np.nan) - 1.0)
        devs.append(dev[np.isfinite(dev)])
        n = len(layer_ids)
        ticks = [f"{k}" if k != layer_ids[-1] else f"{k} final" for k in layer_ids]
        traces.append({
            "type": "heatmap", "x": typed_array(x), "y": list(range(n)),
            "z": typed_array(dev), "customdata": typed_array(values),
            "xaxis": xref, "yaxis": yref, "coloraxis": "coloraxis", "name": plot_text(label),
            "hovertemplate": (f"{plot_text(label)} · {plot_text(term)}<br>layer %{{y}}<br>x %{{x:.4~g}}<br>"
                              "%{customdata:.4~g} (%{z:+.1f}% vs layer mean)<extra></extra>"),
            "hoverongaps": False,
        })
        layout[yref.replace("y", "yaxis")].update(
            {"tickmode": "array", "tickvals": list(range(n)), "ticktext": ticks, "title": {"text": "layer"}})
    spread = np.concatenate(devs) if devs else np.array([1.0])
    limit = float(np.percentile(np.abs(spread), 98)) if len(spread) else 1.0
    limit = max(limit, 0.5)
    layout["coloraxis"] = {"colorscale": COLORSCALE, "cmin": -limit, "cmax": limit,
                           "colorbar": {"title": {"text": "% vs<br>layer mean"}, "thickness": 12, "len": 0.6}}
    layout["hovermode"] = "closest"
    return panel("panel-layers", "Decoder layers", note, {"data": traces, "layout": layout})
