"""lr-batch: the run's lr against the best-grounded lr for its total batch, and iters/epoch
against the stated batch.

The reference comes from evidence, in this order (bevlog/recipes.py): the run's own config
intent (`total_batch_size = 48`, `auto_scale_lr` base_batch_size not enabled: the lr was set for
that batch, so it scales to the batch the run really had) > a published recipe for the same
model type (DETR3D, PETR, StreamPETR, Co-DINO, PointPillars; bevdetr's own measured one),
named with its source in the finding > nothing, and then no lr finding at all. Peak against
peak: a cyclic or OneCycle schedule is compared at the peak the schedule model
(bevlog/schedule.py) reads from the config, not at its base lr. The base lr comes from the
config, never from the logged lr (only param group 0's lr is logged, often a backbone with
lr_mult 0.1).

≥3× the reference is a warning, 1.5–3× or ≤¼ an info, and so is anything at all on a run that
learns well (its evaluation metric rises and ends near its best: bevlog/evaluations.py): an lr
that works is never "fix the learning rate first". A run far above the reference whose metric
never left zero gets a warning already at 1.5×.

The second check: iterations per epoch × the stated total batch must give the training set's
size. It is made only for datasets of known size (nuScenes train 28,130 samples, COCO
train2017 117,266 images) read without a resampling wrapper (CBGS), on epoch runners that log
`[i/n]`; a mismatch means the lr was set for a batch the run did not have, and the fix scales
the lr by the batch the run really had.
"""
from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import base_lr, doc, finding, fmt, nice_lr, signals

RULE_ID = "lr-batch"
SUMMARY = "lr vs the run's own config intent or its model's published recipe, scaled to the total batch"


@dataclass(frozen=True)
class Thresholds:
    warn_ratio: float = doc(3.0, "lr ≥ this × the reference is a warning")
    info_ratio: float = doc(1.5, "lr ≥ this × the reference is worth a note (a warning when the metric "
                                 "never left zero)")
    low_ratio: float = doc(0.25, "lr ≤ this × the reference is a note (slow training)")
    dead_metric: float = doc(0.01, "a headline metric never above this detected nothing")
    batch_tolerance: float = doc(0.2, "implied / stated total batch off by more than this is a mismatch")


# (dataset type contains, ann_file contains, ann_file must not contain) -> training samples
KNOWN_SIZES = [
    (("nuscenes",), ("infos_train",), ("mini", "temporal", "seq"), 28130),
    (("coco",), ("instances_train2017",), (), 117266),
]


def find_lr_batch(run, th: Thresholds = Thresholds()):
    return _lr_against_reference(run, th) + _iters_per_epoch(run, th)


def _lr_against_reference(run, th):
    from bevlog.evaluations import headline_series
    from bevlog.recipes import lr_reference

    meta = run.meta
    lr = base_lr(meta, None)
    ref = lr_reference(meta)
    if not lr or ref is None:
        return []
    sig = signals(run)
    sched = sig.schedule
    # peak against peak: the run's schedule peak / base (cyclic ×10) against the reference's
    run_peak_ratio = (sched.config_peak / sched.base_lr) if sched.config_peak and sched.base_lr else 1.0
    effective = lr * run_peak_ratio / ref.peak_ratio
    ratio = ref.ratio(effective)
    series = headline_series(run)
    learns = series is not None and series.learns_well()
    dead = series is not None and len(series) >= 2 and series.best <= th.dead_metric
    if ratio >= th.warn_ratio or (dead and ratio >= th.info_ratio):
        severity = "warning"
    elif ratio >= th.info_ratio or ratio <= th.low_ratio:
        severity = "info"
    else:
        return []
    capped = learns and severity != "info"
    if capped:
        severity = "info"  # an lr that learns well is never "fix the learning rate first"
    batch = ref.batch
    gpus, per_gpu = meta.get("num_gpus"), meta.get("samples_per_gpu")
    batch_text = f"{batch:g} = {gpus} GPU{'s' if gpus != 1 else ''} × {per_gpu}" if gpus and per_gpu else f"{batch:g}"
    peak_text = f", peak {fmt(lr * run_peak_ratio)} ({sched.policy})" if run_peak_ratio != 1.0 else ""
    want = ref.low if ref.low == ref.high else None
    want_text = fmt(ref.low) if want else f"{fmt(ref.low)}–{fmt(ref.high)}"
    message = (f"lr {fmt(lr)}{peak_text} at total batch {batch_text} is {ratio:.2g}× "
               f"{'the' if want else 'the edge of the'} {want_text} that {ref.text} gives")
    if capped:
        message += f"; the run learns well ({series.name} {series.value[0]:.3g} → {series.value[-1]:.3g}), so it is a note"
    elif dead:
        message += f"; {series.name} never rose above {series.best:.3g}"
    to = nice_lr(ref.target(effective) * ref.peak_ratio / run_peak_ratio)
    evidence = {"kind": "lr", "lr": lr, "total_batch": batch, "ratio": ratio, "reference": ref.kind,
                "reference_name": ref.name, "reference_text": ref.text, "reference_lr": [ref.low, ref.high],
                "lr_per_sample": lr / batch, "recipe_lr_per_sample": ref.high / batch,
                "optimizer": meta.get("optimizer"), "learns_well": learns}
    fix = f"lr {fmt(lr)} → {fmt(to)} ({ref.short})"
    if ratio > 1:
        fix += f", or reach batch {int(round(batch * ratio))} with gradient accumulation"
    return [finding(run, RULE_ID, severity, sig, None, None, message, evidence, fix,
                    [{"param": "lr", "from": lr, "to": to}])]


def dataset_size(config) -> int | None:
    """Training-set size for the datasets whose size is known, None otherwise (or when a
    resampling wrapper such as CBGS changes the epoch length)."""
    train = (config or {}).get("data", {}).get("train") if isinstance(config, dict) else None
    if not isinstance(train, dict):
        return None
    if "dataset" in train or "datasets" in train:  # CBGSDataset / RepeatDataset / ConcatDataset
        return None
    kind = str(train.get("type", "")).lower()
    ann = str(train.get("ann_file", "")).lower()
    for kinds, needs, forbids, size in KNOWN_SIZES:
        if any(k in kind for k in kinds) and all(n in ann for n in needs) and not any(f in ann for f in forbids):
            return size
    return None


def _iters_per_epoch(run, th):
    meta = run.meta
    ipe, batch = meta.get("iters_per_epoch"), meta.get("total_batch")
    if meta.get("runner") != "epoch" or meta.get("iters_per_epoch_estimated") or not ipe or not batch:
        return []
    size = dataset_size(meta.get("config"))
    if not size:
        return []
    implied = size / ipe
    if abs(implied / batch - 1) <= th.batch_tolerance:
        return []
    sig = signals(run)
    gpus, per_gpu = meta.get("num_gpus"), meta.get("samples_per_gpu")
    stated = f"{batch} ({gpus} GPU{'s' if gpus != 1 else ''} × {per_gpu})" if gpus and per_gpu else str(batch)
    message = (f"{ipe:,} iterations per epoch over {size:,} training samples imply a total batch of "
               f"{implied:.3g}, but the log states {stated}: the lr was set for a batch the run did not have")
    evidence = {"kind": "iters_per_epoch", "iters_per_epoch": ipe, "dataset_size": size,
                "implied_batch": implied, "stated_batch": batch}
    lr = base_lr(meta, None)
    true_batch = round(implied)
    if lr:
        # the lr was set for the stated batch: scaled to the batch the run really had
        to = nice_lr(lr * true_batch / batch)
        changes = [{"param": "lr", "from": lr, "to": to}]
        fix = (f"lr {fmt(lr)} → {fmt(to)} (the lr scaled from the stated batch {batch} to the true {true_batch}); "
               f"check the GPU count and samples_per_gpu")
    else:
        changes, fix = [], "check the GPU count and samples_per_gpu"
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, fix, changes)]
