"""lr-batch: lr per sample against the DETR-family AdamW recipe, and iters/epoch against the batch.

The recipe (PETR, DETR3D, StreamPETR …) is 2e-4 at total batch 8, 4e-4 at 16: 2.5e-5 per
sample, scaled linearly. The base lr comes from the config, never from the logged lr: only
param group 0's lr is logged, and group 0 is often a backbone with lr_mult 0.1. ≥3× the
recipe is a warning (the usual cause of divergence), 1.5–3× or ≤¼ an info. Other optimizers
(SGD …) have other recipes and are not judged. The second check: the number of iterations
per epoch times the total batch should be the same dataset size in every segment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import RECIPE_TEXT, base_lr, doc, finding, fmt, nice_lr, recipe_lr, signals

RULE_ID = "lr-batch"
SUMMARY = "lr per sample vs the recipe (2e-4 at total batch 8, 4e-4 at 16, AdamW)"


@dataclass(frozen=True)
class Thresholds:
    warn_ratio: float = doc(3.0, "lr per sample ≥ this × the recipe's is a warning")
    info_ratio: float = doc(1.5, "lr per sample ≥ this × the recipe's is worth a note")
    low_ratio: float = doc(0.25, "lr per sample ≤ this × the recipe's is a note (slow training)")
    optimizers: tuple = doc(("adamw", "adam"), "optimizer types the recipe applies to")


def find_lr_batch(run, th: Thresholds = Thresholds()):
    meta = run.meta
    sig = signals(run)
    opt = str(meta.get("optimizer") or "").lower()
    lr = base_lr(meta, None)
    batch = meta.get("total_batch")
    recipe = recipe_lr(batch)
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
    batch_text = f"{batch} = {gpus} GPUs × {per_gpu}" if gpus and per_gpu else f"{batch}"
    message = (f"lr per sample {fmt(per_sample)} (lr {fmt(lr)}, total batch {batch_text}) is "
               f"{ratio:.2g}× the recipe's {fmt(recipe_per_sample)}")
    to = nice_lr(recipe)
    evidence = {"lr": lr, "total_batch": batch, "lr_per_sample": per_sample,
                "recipe_lr_per_sample": recipe_per_sample, "ratio": ratio, "optimizer": meta.get("optimizer")}
    fix = (f"lr {fmt(lr)} → {fmt(to)} (the recipe is {RECIPE_TEXT}, scaled linearly to batch {batch}), "
           f"or reach batch {int(round(batch * ratio))} with gradient accumulation")
    return [finding(run, RULE_ID, severity, sig, None, None, message, evidence, fix,
                    [{"param": "lr", "from": lr, "to": to}])]
