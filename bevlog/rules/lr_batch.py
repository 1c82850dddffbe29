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

Severity follows the run's outcome, not the config alone: ≥3× the reference is a warning only when
the run went poorly (metric at chance, loss non-finite at the end, a metric far below its best, or —
without evaluations — a loss that barely fell); on a run that went well, or that never trained,
it is a note that says what the run's own evidence shows — unless an earlier attempt at this lr went
non-finite (rows a resume re-ran, `Outcome.failed_attempt`): that is the run's own evidence of what
this lr does, a warning even when the resumed run, at a lower lr, went well. 1.5–3× or ≤¼ is a note. A run far above
the reference whose metric never left zero gets a warning already at 1.5×. The lr compared is the
one the optimizer used: the config's lr times mmengine's auto_scale_lr factor when it is enabled.

The second check: iterations per epoch × the stated total batch must give the training set's
size. It is made only for datasets of known size (nuScenes train 28,130 samples, COCO
train2017 117,266 images) read without a resampling wrapper (CBGS), on epoch runners that log
`[i/n]`; a mismatch means the lr was set for a batch the run did not have, and the fix scales
the lr by the batch the run really had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bevlog import fixes
from bevlog.findings import Alternative
from bevlog.recipes import lr_reference, recipe_from_terms
from bevlog.rules._common import base_lr, change, doc, finding, fmt, lr_change, outcome, signals
from bevlog.schedule import lr_scale

RULE_ID = "lr-batch"
SUMMARY = "lr vs the run's own config intent or its model's published recipe, scaled to the total batch"


@dataclass(frozen=True)
class Thresholds:
    warn_ratio: float = doc(3.0, "lr ≥ this × the reference is a warning")
    info_ratio: float = doc(
        1.5, "lr ≥ this × the reference is worth a note (a warning when the metric never left zero)"
    )
    low_ratio: float = doc(0.25, "lr ≤ this × the reference is a note (slow training)")
    dead_metric: float = doc(0.01, "a headline metric never above this detected nothing")
    batch_tolerance: float = doc(0.2, "implied / stated total batch off by more than this is a mismatch")


# (dataset type contains, ann_file contains, ann_file must not contain) -> training samples
KNOWN_SIZES = [
    (("nuscenes",), ("infos_train",), ("mini", "temporal", "seq"), 28130),
    (("coco",), ("instances_train2017",), (), 117266),
]


def find_lr_batch(run, th: Thresholds = Thresholds()):
    return _lr_against_reference(run, th) + _group0_against_recipe(run, th) + _iters_per_epoch(run, th)


def _group0_against_recipe(run, th):
    """A log without config (a DETR log.txt) whose loss terms name its model (RT-DETR's `loss_vfl`):
    the logged lr is the recipe's first parameter group (RT-DETR: the backbone), compared with that
    group's lr in the recipe. The batch is unknown, so nothing is scaled and it is only ever a note."""
    if run.meta.lr:
        return []
    sig = signals(run)
    recipe = recipe_from_terms(sig.t.columns)
    lr = sig.lr[(sig.lr > 0) & (sig.lr < float("inf"))] if len(sig.lr) else sig.lr
    if recipe is None or not recipe.group0_lr or not len(lr):
        return []
    logged = float(max(lr))
    ratio = logged / recipe.group0_lr
    if th.low_ratio < ratio < th.warn_ratio:
        return []
    direction = "high" if ratio > 1 else "low"
    message = (
        f"the logged lr {fmt(logged)} is {recipe.group0}: {ratio:.2g}× the {recipe.name} recipe's "
        f"{fmt(recipe.group0_lr)} for it at total batch {recipe.total_batch}; this log states neither its "
        f"batch nor its base lr, so nothing is scaled: a note"
    )
    evidence = {
        "kind": "group0",
        "lr": logged,
        "reference_lr": recipe.group0_lr,
        "ratio": ratio,
        "direction": direction,
        "reference_name": recipe.name,
        "reference_text": recipe.source,
        "recipe_batch": recipe.total_batch,
    }
    advice = (
        f"check the backbone's lr against the base lr (the {recipe.name} recipe keeps it at a tenth)"
        if direction == "high"
        else ""
    )
    return [
        finding(
            run,
            RULE_ID,
            "info",
            sig,
            None,
            None,
            message,
            evidence,
            advice,
            [],
            f"the logged lr is {ratio:.2g}× the {recipe.name} recipe's for that group",
        )
    ]


def _lr_against_reference(run, th):
    meta = run.meta
    lr = base_lr(meta, None)
    ref = lr_reference(meta)
    if not lr or ref is None:
        return []
    sig = signals(run)
    sched = sig.schedule
    scale = lr_scale(meta)
    # peak against peak: the run's schedule peak / base (cyclic ×10) against the reference's
    run_peak_ratio = (sched.config_peak / sched.base_lr) if sched.config_peak and sched.base_lr else 1.0
    effective = lr * scale.factor * run_peak_ratio / ref.peak_ratio
    ratio = ref.ratio(effective)
    out = outcome(run)
    series = out.metric
    dead = out.at_chance
    severity = _severity(ratio, dead, out, th)
    if severity is None:
        return []
    gpus, per_gpu = meta.num_gpus, meta.samples_per_gpu
    batch = ref.batch
    batch_text = f"{batch:g} = {gpus} GPU{'s' if gpus != 1 else ''} × {per_gpu}" if gpus and per_gpu else f"{batch:g}"
    peak_text = f", peak {fmt(lr * run_peak_ratio)} ({sched.policy})" if run_peak_ratio != 1.0 else ""
    eff_text = f" (effective {fmt(lr * scale.factor)} after {scale.why})" if scale.factor != 1.0 else ""
    want = ref.low if ref.low == ref.high else None
    want_text = fmt(ref.low) if want else f"{fmt(ref.low)}–{fmt(ref.high)}"
    direction = "high" if ratio > 1 else "low"
    message = (
        f"lr {fmt(lr)}{eff_text}{peak_text} at total batch {batch_text} is {ratio:.2g}× "
        f"{'the' if want else 'the edge of the'} {want_text} that {ref.text} gives"
    )
    if ref.note:
        message += f" ({ref.note})"
    good = out.good_text()
    failed = _failed_at_this_lr(out, sched)
    if dead and series is not None:
        message += f"; {series.name} never rose above {series.best:.3g}"
    elif failed is not None and ratio >= th.warn_ratio:
        lr_fail, lr_resumed = failed
        message += f"; an earlier attempt went non-finite at lr {fmt(lr_fail)} (see earlier-attempt)" + (
            f", and the run went well ({good}) only after it resumed at lr {fmt(lr_resumed)}"
            if good and lr_resumed and lr_resumed < 0.5 * lr_fail
            else ""
        )
        severity = "warning"
    elif ratio >= th.warn_ratio and good:
        message += f"; the run went well ({good}), which this lr did not prevent: a note"
    elif ratio >= th.warn_ratio and not out.trained:
        message += "; the run never trained, so nothing shows what this lr does: a note"
    target = ref.target(effective) * ref.peak_ratio / run_peak_ratio
    evidence = {
        "kind": "lr",
        "lr": lr,
        "effective_lr": lr * scale.factor,
        "total_batch": batch,
        "ratio": ratio,
        "direction": direction,
        "reference": ref.kind,
        "reference_name": ref.name,
        "reference_text": ref.text,
        "reference_lr": [ref.low, ref.high],
        "lr_per_sample": lr / batch,
        "recipe_lr_per_sample": ref.high / batch,
        "optimizer": meta.optimizer,
        "learns_well": out.learns,
        "outcome_poor": out.poor,
        "failed_attempt_lr": failed[0] if failed else None,
    }
    change = lr_change(run, sig, effective_to=target, reason=ref.short)
    return [
        finding(
            run,
            RULE_ID,
            severity,
            sig,
            None,
            None,
            message,
            evidence,
            "",
            [change],
            f"the lr is {ratio:.2g}× {'above' if ratio > 1 else 'below'} {ref.short}",
            alternative=_accumulation(run, ref, ratio, meta.optimizer),
        )
    ]


def _accumulation(run, ref, ratio: float, optimizer) -> Alternative | None:
    """Instead of a lower lr: keep it and reach, with gradient accumulation, the batch at which
    the reference would give it. Offered where that batch is the reference's own (its lr was set
    there), or on SGD by linear scaling; never extrapolated for Adam-family optimizers
    (bevlog.fixes says why)."""
    steps = math.ceil(ratio - 1e-9)
    if ratio <= 1 or steps < 2:
        return None
    reached = ref.batch * steps
    if ref.own_batch and abs(reached / ref.own_batch - 1) <= fixes.OWN_BATCH_TOLERANCE:
        whose = "the config's own" if ref.kind == "config" else f"the {ref.name} recipe's"
        basis = fixes.OWN_BATCH_BASIS.format(whose=whose, batch=ref.own_batch)
    elif str(optimizer or "").lower().startswith("sgd"):
        basis = fixes.LINEAR_SCALING_BASIS
    else:
        return None
    return Alternative(
        "lr",
        [change(run, "gradient_accumulation", steps, reason=f"total batch {ref.batch:g} → {reached:g} at the same lr")],
        basis,
    )


def _failed_at_this_lr(out, sched) -> tuple | None:
    """An earlier attempt that went non-finite at (about) the schedule's peak lr, the lr this rule
    judges: the run's own evidence of what this lr does, whatever the resumed run did after it."""
    failed = out.failed_attempt
    peak = sched.peak_lr() if sched is not None else None
    if failed is None or failed[0] is None or not peak:
        return None
    return failed if failed[0] >= 0.5 * peak else None


def _severity(ratio, dead, out, th) -> str | None:
    if ratio >= th.warn_ratio or (dead and ratio >= th.info_ratio):
        return "warning" if out.poor else "info"
    if ratio >= th.info_ratio or ratio <= th.low_ratio:
        return "info"
    return None


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
    ipe, batch = meta.iters_per_epoch, meta.total_batch
    if meta.runner != "epoch" or meta.iters_per_epoch_estimated or not ipe or not batch:
        return []
    size = dataset_size(meta.config)
    if not size:
        return []
    implied = size / ipe
    if abs(implied / batch - 1) <= th.batch_tolerance:
        return []
    sig = signals(run)
    gpus, per_gpu = meta.num_gpus, meta.samples_per_gpu
    stated = f"{batch} ({gpus} GPU{'s' if gpus != 1 else ''} × {per_gpu})" if gpus and per_gpu else str(batch)
    message = (
        f"{ipe:,} iterations per epoch over {size:,} training samples imply a total batch of "
        f"{implied:.3g}, but the log states {stated}: the lr was set for a batch the run did not have"
    )
    evidence = {
        "kind": "iters_per_epoch",
        "iters_per_epoch": ipe,
        "dataset_size": size,
        "implied_batch": implied,
        "stated_batch": batch,
    }
    lr = base_lr(meta, None)
    true_batch = round(implied)
    changes = []
    if lr:
        # the lr was set for the stated batch: scaled to the batch the run really had
        changes = [
            lr_change(
                run,
                sig,
                config_to=lr * true_batch / batch,
                reason=f"the lr scaled from the stated batch {batch} to the true {true_batch}",
            )
        ]
    fix = "check the GPU count and samples_per_gpu"
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, fix, changes)]
