"""Fair comparison of runs on one metric: a row of statistics per run and a verdict per pair
(or per group of seeded runs, bevlog.groupcompare), with the notes that say where the axis or
the metric does not compare like with like.

Everything is computed on the aligned axis (bevlog.align) from all logged rows; only the
sparkline is resampled. The numbers themselves (a row, the checkpoints, a pair's verdict) are
bevlog.comparestats.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bevlog.align import AlignError, evals_x, train_x
from bevlog.comparenotes import iters_across_batches, metric_notes, totals_differ
from bevlog.comparestats import (
    Comparison,
    Curve,
    common_checkpoints,
    pair_verdict,
    pick_columns,
    run_stats,
    x_range,
    y_range,
)
from bevlog.groupcompare import group_table, group_verdicts
from bevlog.groups import Group
from bevlog.smooth import DEFAULT_WEIGHT, ema

MAX_CHECKPOINT_COLUMNS = 5
MISSING_AXIS = {
    "epochs": "epoch or iterations-per-epoch information",
    "iters": "iteration numbers",
    "samples": "iteration numbers",
    "time": "timestamps",
}
HIGHER_IS_BETTER = ("map", "nds", "ap", "ar", "recall", "precision", "acc", "iou", "f1")
LOWER_IS_BETTER = ("loss", "err", "mate", "mase", "maoe", "mave", "maae", "time", "memory")


class MetricError(ValueError):
    """A --metric no run has; str() lists what is there."""


def run_labels(runs) -> list[str]:
    """Unique display names: twins of one run (`x.log`, `x.log.json`) get their file name."""
    names = [r.name for r in runs]
    out = []
    for run in runs:
        name = run.name
        if names.count(name) > 1:
            sources = run.meta.get("sources") or []
            name = os.path.basename(str(sources[0])) if sources else name
        out.append(name)
    seen: dict[str, int] = {}
    for i, name in enumerate(out):
        if out.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            out[i] = f"{name}#{seen[name]}"
    return out


def resolve_metric(run, metric: str) -> tuple[str, str] | None:
    """`metric` -> ('train', column) or ('evals', metric name) in this run, or None.

    Exact names first, then a unique suffix after '/' or '_' (`NDS` finds
    `pts_bbox_NuScenes/NDS`, `bbox_mAP` finds `coco/bbox_mAP`).
    """
    train_cols = [c for c in run.train.columns if c not in ("run", "segment")]
    eval_names = run.evals["metric"].unique().tolist() if len(run.evals) else []
    if metric in train_cols:
        return "train", metric
    if metric in eval_names:
        return "evals", metric
    for source, names in (("train", train_cols), ("evals", eval_names)):
        hits = [n for n in names if n.endswith("/" + metric) or n.endswith("_" + metric)]
        if len(hits) == 1:
            return source, hits[0]
    return None


def higher_is_better(metric: str) -> bool:
    low = metric.lower().rsplit("/", 1)[-1]
    if any(k in low for k in LOWER_IS_BETTER):
        return False
    return any(low == k or low.startswith(k) or low.endswith(k) or f"_{k}" in low for k in HIGHER_IS_BETTER)


def metric_curve(run, label: str, metric: str, align: str, weight: float, overrides=None) -> Curve | None:
    """The run's `metric` on the aligned axis, smoothed with the EMA (train columns only)."""
    found = resolve_metric(run, metric)
    if found is None:
        return None
    source, column = found
    if source == "train":
        x = train_x(run, align, overrides)
        y = run.train[column].to_numpy(dtype=float)
    else:
        rows = (run.evals["metric"] == column).to_numpy()
        x = evals_x(run, align, overrides)[rows]
        y = run.evals["value"].to_numpy(dtype=float)[rows]
    keep = np.isfinite(x)
    if source == "train" and len(x) and not keep.any():
        raise AlignError(
            f"run {label}: its log gives no {MISSING_AXIS[align]}, so it cannot be aligned "
            f"by {align}; use --align iters"
        )
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    smooth = ema(y, weight) if source == "train" else np.where(np.isfinite(y), y, np.nan)
    return Curve(label, x, y, smooth, source, column)


def require_iterations(runs, labels, align: str) -> None:
    """AlignError (one line) when `align` counts iterations or samples and a run's steps are epochs
    (a DETR log.txt: one row per epoch, no iteration and no sample count in it)."""
    if align not in ("iters", "samples"):
        return
    for run, label in zip(runs, labels):
        if getattr(run.meta, "step_unit", "iteration") == "epoch":
            raise AlignError(
                f"run {label}: its log has one row per epoch and no iterations, so it cannot be "
                f"aligned by {'iterations' if align == 'iters' else 'samples seen'}; use --align epochs"
            )


def compare_runs(
    runs,
    metric: str = "loss",
    align: str = "epochs",
    weight: float = DEFAULT_WEIGHT,
    overrides=None,
    labels=None,
    groups=None,
) -> Comparison:
    """Statistics of `metric` for every run on the `align` axis, and verdicts against the
    first run — or, when `groups` (bevlog.groups.find_groups) hold repeats, against the
    first group, with mean ± sd per group and paired differences."""
    labels = labels or run_labels(runs)
    require_iterations(runs, labels, align)
    curves = [metric_curve(r, lab, metric, align, weight, overrides) for r, lab in zip(runs, labels)]
    if all(c is None for c in curves):
        raise MetricError(_missing_metric_message(runs, metric))
    column = next(c.column for c in curves if c is not None)
    better_high = higher_is_better(column)
    checkpoints = common_checkpoints([c for c in curves if c is not None and len(c.x)], align)
    shown = pick_columns(checkpoints, MAX_CHECKPOINT_COLUMNS)
    lo, hi = y_range([c for c in curves if c is not None])
    x_lo, x_hi = x_range([c for c in curves if c is not None])
    rows = []
    for run, label, curve in zip(runs, labels, curves):
        rows.append(
            run_stats(
                run, label, curve, align, shown, better_high, overrides, spark_range=(lo, hi), spark_x=(x_lo, x_hi)
            )
        )
    stats = pd.DataFrame(rows)
    comp = Comparison(column, align, weight, better_high, stats, checkpoints, shown, curves=curves)
    comp.groups = list(groups) if groups else _singletons(labels)
    comp.totals_differ = totals_differ(runs, curves, column)
    if any(g.n > 1 for g in comp.groups):
        comp.group_stats = group_table(comp)
        comp.verdicts, comp.differences = group_verdicts(comp, runs)
    else:
        comp.verdicts = [pair_verdict(comp, 0, i, runs) for i in range(1, len(runs))]
    comp.notes = axis_notes(runs, labels, align, overrides) + metric_notes(runs, labels, curves, column)
    for g in comp.groups:
        comp.notes.extend(g.notes)
    return comp


def _singletons(labels):
    return [Group(label, [i], [label], [None], "single") for i, label in enumerate(labels)]


def axis_notes(runs, labels, align: str, overrides=None) -> list[str]:
    """Where a run's x is an estimate rather than a logged fact, and where the axis itself
    does not compare equal amounts of data (iterations across batch sizes)."""
    notes = iters_across_batches(runs, labels, overrides) if align == "iters" else []
    for run, label in zip(runs, labels):
        if align == "time" and run.meta.get("wall_s_estimated"):
            notes.append(
                f"note: {label} has no timestamps; its wall time is summed from the logged "
                "per-iteration `time`, which leaves out evaluation and checkpointing"
            )
        if align == "epochs" and run.meta.get("iters_per_epoch_estimated"):
            notes.append(
                f"note: {label} does not log iterations per epoch; fractional epochs use an "
                f"estimate ({run.meta.get('iters_per_epoch')})"
            )
    return notes


def _missing_metric_message(runs, metric: str) -> str:
    names = set()
    for run in runs:
        names.update(c for c in run.train.columns if "loss" in c or c in ("lr", "grad_norm"))
        if len(run.evals):
            names.update(run.evals["metric"].unique().tolist())
    sample = ", ".join(sorted(names)[:12])
    return f"no run has a metric {metric!r}; some that exist: {sample}"
