"""no-takeoff: the loss fell at the start, then stalled for the rest of the run and never rose.

The other failure mode of a too-high learning rate. A DETR-style detector at a peak lr far
above what it tolerates drops quickly onto the "predict no object / the mean box" plateau in
its first few hundred iterations and stays there: the loss is flat for the rest of the run,
it never rises (so divergence, rightly, says nothing) and the detection metric stays at zero.
bevdetr shows it at lr ≥ 3e-3 (docs/experiments.md), where a 1000-iteration warmup rescues it.

It fires when, from `early_frac` of the run to its end, the rolling-median loss fell less
than `max_fall` and never rose more than `max_rise` above its early level, after a first
fall of at least `first_fall`. Evaluation metrics sharpen it: an error when the headline
metric (NDS, mAP …) stayed ≤ `dead_metric` at every evaluation, not reported at all when the
model did learn to detect, a warning when the log has no evaluations. A slow but steady fall
(an lr that is too low) is plateau's business, not this rule's.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.rules._common import (doc, finding, fmt, headline_metric, lr_for_fix, nice_lr, rolling_median,
                                  signals, where)

RULE_ID = "no-takeoff"
SUMMARY = "loss fell at first, then stayed flat (<5%) for the rest of the run without rising; detection ≈ 0"


@dataclass(frozen=True)
class Thresholds:
    early_frac: float = doc(0.10, "fraction of the run after which the stall is measured")
    min_rows: int = doc(20, "fewest logged rows for a judgement")
    first_fall: float = doc(0.05, "the loss must first have fallen this much (it did start to learn)")
    max_fall: float = doc(0.05, "a relative fall from the early level to the end below this is a stall")
    max_rise: float = doc(0.10, "a rise above the early level beyond this is divergence's business")
    dead_metric: float = doc(0.01, "a headline metric never above this detected nothing")
    lr_divisor: float = doc(fixes.NO_TAKEOFF_LR_DIVISOR, "suggested peak lr = the run's lr / this (never below "
                                                         "the grounded lr for the batch, bevlog.recipes)")
    min_warmup_iters: int = doc(fixes.NO_TAKEOFF_WARMUP_ITERS, "warmup length to suggest at least "
                                                               "(rescued bevdetr at lr 3e-3)")


def find_no_takeoff(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    n = len(sig.loss)
    if n < th.min_rows or np.isfinite(sig.loss).sum() < th.min_rows:
        return []
    smooth = rolling_median(sig.loss, sig.window)
    lo = max(int(n * th.early_frac), sig.warmup_end_row if sig.warmup_end_row < n // 2 else 0)
    q = max(3, n // 20)
    with warnings.catch_warnings():  # all-NaN windows give NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        first, early, end = _levels(sig, smooth, lo, q)
        rise = np.nanmax(smooth[lo:]) / early - 1 if early > 0 else np.nan
    if not (np.isfinite(first) and np.isfinite(early) and np.isfinite(end) and np.isfinite(rise)) or early <= 0:
        return []
    first_fall = 1 - early / first
    fall = 1 - end / early
    if first_fall < th.first_fall or fall >= th.max_fall or rise > th.max_rise:
        return []

    metric, best = _headline(run)
    if metric is not None and best > th.dead_metric:
        return []  # it detects: a flat loss here is a plateau, not a run that never took off
    severity = "error" if metric is not None else "warning"
    detection = (f"; {metric} never rose above {best:.3f}" if metric is not None
                 else "; the log has no evaluation to confirm the model detects nothing")
    message = (f"the loss fell {first_fall:.0%} at the start, then stayed flat over {where(sig, lo, n - 1)} "
               f"({fmt(early)} → {fmt(end)}, {-fall:+.1%}) without ever rising{detection}: "
               f"the run never took off")
    evidence = {"loss_first": float(first), "loss_early": float(early), "loss_end": float(end),
                "fall": float(fall), "max_rise": float(rise), "metric": metric,
                "best_metric": None if metric is None else float(best)}

    changes, bits = [], []
    lr = lr_for_fix(run.meta, sig)
    if lr:
        from bevlog.recipes import lr_reference

        ref = lr_reference(run.meta)  # above a grounded range: its top; else a cut, never below its bottom
        to = nice_lr(ref.high if ref and lr > ref.high else max(lr / th.lr_divisor, ref.low if ref else 0.0))
        if to < lr:
            changes.append({"param": "lr", "from": lr, "to": to})
            bits.append(f"lower the peak lr {fmt(lr)} → {fmt(to)}")
    warm = sig.warmup_iters or 0
    to_warm = max(th.min_warmup_iters, 2 * warm)
    changes.append({"param": "warmup_iters", "from": warm or None, "to": to_warm})
    bits.append(f"warm up over ≥ {to_warm} iters")
    fix = "; ".join(bits) + " (a too-high lr collapses DETR onto predicting no object); overfit one batch to check"
    return [finding(run, RULE_ID, severity, sig, lo, n - 1, message, evidence, fix, changes)]


def _levels(sig, smooth, lo, q):
    """(loss at the start, early level after the first fall, level at the end)."""
    first = np.nanmax(sig.loss[:q])  # the collapse takes only the first rows: their highest is the start
    return first, np.nanmedian(smooth[lo:lo + q]), np.nanmedian(smooth[-q:])


def _headline(run):
    """(headline metric name, its best value) or (None, nan) when the log has no evaluation."""
    ev = run.evals
    if ev is None or not len(ev):
        return None, float("nan")
    metric = headline_metric(ev)
    if metric is None:
        return None, float("nan")
    values = ev.loc[ev["metric"] == metric, "value"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return (metric, float(values.max())) if len(values) else (None, float("nan"))
