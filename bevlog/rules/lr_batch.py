"""lr-batch: lr per sample against the DETR-family AdamW recipe, and iters/epoch against the batch.

The recipe (PETR, DETR3D, StreamPETR …) is 2e-4 at total batch 8, 4e-4 at 16: 2.5e-5 per
sample, scaled linearly. The base lr comes from the config, never from the logged lr: only
param group 0's lr is logged, and group 0 is often a backbone with lr_mult 0.1. ≥3× the
recipe is a warning (the usual cause of divergence), 1.5–3× or ≤¼ an info. Other optimizers
(SGD …) have other recipes and are not judged. The second check: iterations per epoch ×
the stated total batch must give the training set's size. It is made only for datasets of
known size (nuScenes train 28,130 samples, COCO train2017 117,266 images) read without a
resampling wrapper (CBGS), on epoch runners that log `[i/n]`; a mismatch means the lr was
set for a batch the run did not have (a GPU count or samples_per_gpu that differs).
"""
from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import RECIPE_TEXT, base_lr, doc, finding, fmt, nice_lr, recipe_lr, signals

RULE_ID = "lr-batch"
SUMMARY = "lr per sample vs the recipe (2e-4 at total batch 8, 4e-4 at 16, AdamW)"


@dataclass(frozen=True)
class Thresholds:
    warn_ratio: float = doc(3.0, "lr per sample ≥ this × the recipe's is a warning")
    info_ratio: float = doc(1.5, "lr per sample ≥ this × the recipe's is worth a note")
    low_ratio: float = doc(0.25, "lr per sample ≤ this × the recipe's is a note (slow training)")
    optimizers: tuple = doc(("adamw", "adam"), "optimizer types the recipe applies to")
    batch_tolerance: float = doc(0.2, "implied / stated total batch off by more than this is a mismatch")


# (dataset type contains, ann_file contains, ann_file must not contain) -> training samples
KNOWN_SIZES = [
    (("nuscenes",), ("infos_train",), ("mini", "temporal", "seq"), 28130),
    (("coco",), ("instances_train2017",), (), 117266),
]


def find_lr_batch(run, th: Thresholds = Thresholds()):
    return _lr_per_sample(run, th) + _iters_per_epoch(run, th)


def _lr_per_sample(run, th):
    meta = run.meta
    sig = signals(run)
    opt = str(meta.get("optimizer") or "").lower()
    lr = base_lr(meta, None)
    batch = meta.get("total_batch")
    recipe = recipe_lr(batch, any_optimizer=True)
    if opt not in th.optimizers or not lr or not recipe:
        return []
    ratio = lr / recipe
    if ratio >= th.warn_ratio:
        severity = "warning"
    elif ratio >= th.info_ratio or ratio <= th.low_ratio:
        severity = "info"
    else:
        return []
    per_sample, recipe_per_sample = lr / batch, recipe / batch
    gpus, per_gpu = meta.get("num_gpus"), meta.get("samples_per_gpu")
    batch_text = f"{batch} = {gpus} GPU{'s' if gpus != 1 else ''} × {per_gpu}" if gpus and per_gpu else f"{batch}"
    message = (f"lr per sample {fmt(per_sample)} (lr {fmt(lr)}, total batch {batch_text}) is "
               f"{ratio:.2g}× the recipe's {fmt(recipe_per_sample)}")
    to = nice_lr(recipe)
    evidence = {"kind": "lr", "lr": lr, "total_batch": batch, "lr_per_sample": per_sample,
                "recipe_lr_per_sample": recipe_per_sample, "ratio": ratio, "optimizer": meta.get("optimizer")}
    fix = (f"lr {fmt(lr)} → {fmt(to)} (the recipe is {RECIPE_TEXT}, scaled linearly to batch {batch}), "
           f"or reach batch {int(round(batch * ratio))} with gradient accumulation")
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
    recipe = recipe_lr(round(implied), meta.get("optimizer"))
    changes = [{"param": "lr", "from": lr, "to": nice_lr(recipe)}] if lr and recipe else []
    fix = (f"check the GPU count and samples_per_gpu; with a true total batch of {round(implied)} the recipe "
           f"lr is {fmt(recipe)}" if recipe else "check the GPU count and samples_per_gpu")
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, fix, changes)]
