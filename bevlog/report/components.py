"""Loss components (final decoder layer, denoising, encoder, depth …) as small multiples."""

from __future__ import annotations

import re

from bevlog.compare import metric_curve
from bevlog.report.bands import band_traces, group_mean_sd, group_of, member_line
from bevlog.report.curves import panel
from bevlog.report.style import Context, line, subplot_grid

# Per-layer copies are drawn in the decoder-layer panel: `d3.loss_cls` (mmdet, final
# layer unprefixed), `layer_2_loss_cls` (but `layer_-1_` is the final one), `loss_cls_3` (Sparse4D).
INTERMEDIATE = re.compile(r"(?:^|[._/])d\d+\.|(?:^|[._/])layer_\d+_|_\d+$")
FRAME_PREFIX = re.compile(r"^frame_\d+_")
MAX_SUBPLOTS = 12


def component_columns(train) -> list[str]:
    """Loss columns other than the total and the intermediate decoder layers."""
    return [c for c in train.columns if "loss" in c.lower() and c != "loss" and not INTERMEDIATE.search(c)]


def canonical(column: str) -> str:
    """`frame_0_loss_cls` and `loss_cls` share a subplot: the frame prefix is StreamPETR's."""
    return FRAME_PREFIX.sub("", column)


def components_panel(ctx: Context) -> dict:
    groups: dict[str, list] = {}
    for run, label in ctx.pairs():
        for column in component_columns(run.train):
            groups.setdefault(canonical(column), []).append((run, label, column))
    note = (
        "Each logged loss term except the total and the intermediate decoder layers, EMA-smoothed, "
        "one subplot per term; x zoom is shared."
    )
    if not groups:
        return panel("panel-components", "Loss components", note, None, "No run logs loss components.")
    names = list(groups)[:MAX_SUBPLOTS]
    if len(groups) > MAX_SUBPLOTS:
        note += f" Showing {MAX_SUBPLOTS} of {len(groups)} terms."

    layout, refs = subplot_grid(ctx, len(names), 3 if len(names) > 4 else 2, names, row_height=200)
    traces, legend_done = [], set()
    for name, axes in zip(names, refs):
        by_label = {}
        for run, label, column in groups[name]:
            curve = metric_curve(run, label, column, ctx.align, ctx.weight, ctx.overrides)
            if curve is None or not len(curve.x):
                continue
            by_label[label] = curve
            group = group_of(ctx, label)
            if group is not None:
                traces.append(member_line(curve.x, curve.smooth, ctx, label, group, axes=axes))
                continue
            trace = line(
                curve.x,
                curve.smooth,
                ctx,
                label,
                axes=axes,
                width=1.6,
                legend=label not in legend_done,
                hover_name=f"{label} · {column}",
            )
            trace["name"] = trace["legendgroup"]
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
                        hover_name=f"{group.name} (n={group.n}) · {name}",
                    )
                )
                legend_done.add(group.name)
    return panel("panel-components", "Loss components", note, {"data": traces, "layout": layout})
