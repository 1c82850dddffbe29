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
from bevlog.evaluations import headline_series
from bevlog.recipes import family, lr_reference
from bevlog.rules._common import (
    doc,
    finding,
    fmt,
    lr_change,
    lr_for_fix,
    phases,
    rolling_median,
    signals,
    warmup_change,
    where,
)
from bevlog.schedule import lr_scale

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
    lr_divisor: float = doc(
        fixes.NO_TAKEOFF_LR_DIVISOR,
        "suggested peak lr = the run's lr / this (never below the grounded lr for the batch, bevlog.recipes)",
    )
    min_warmup_iters: int = doc(
        fixes.NO_TAKEOFF_WARMUP_ITERS, "warmup length to suggest at least (rescued bevdetr at lr 3e-3)"
    )
    knee_frac: float = doc(
        0.35,
        "a run whose loss reached its final level (within max_fall) before this share "
        "of the run and stayed there is judged from that point (at a very high lr the "
        "first fall outlasts early_frac)",
    )


def find_no_takeoff(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    if sig.mid_run:
        return []  # the log starts mid-run: its start is not the run's, no "first fall" to see
    lo_phase, n = phases(sig)[0]  # the first launch, up to a resume or a warm restart
    if n - lo_phase < th.min_rows or np.isfinite(sig.loss[:n]).sum() < th.min_rows:
        return []
    smooth = rolling_median(sig.loss[:n], sig.window)
    q = max(3, n // 20)
    found = None
    for lo in _starts(sig, smooth, n, th):
        found = _stall(sig, smooth, lo, q, n, th)
        if found is not None:
            break
    if found is None:
        return []
    lo, first, early, end, rise, first_fall, fall = found
    metric, best = _headline(run)
    if metric is not None and best > th.dead_metric:
        return []  # it detects: a flat loss here is a plateau, not a run that never took off
    severity = "error" if metric is not None else "warning"
    detection = (
        f"; {metric} never rose above {best:.3f}"
        if metric is not None
        else "; no evaluation metric in the log confirms that the model detects nothing"
    )
    message = (
        f"the loss fell {first_fall:.0%} at the start ({fmt(first)} → {fmt(early)}), then stayed flat over "
        f"{where(sig, lo, n - 1)} ({fmt(early)} → {fmt(end)}, {-fall:+.1%}) without ever rising{detection}: "
        f"the run never took off"
    )
    evidence = {
        "loss_first": float(first),
        "loss_early": float(early),
        "loss_end": float(end),
        "fall": float(fall),
        "max_rise": float(rise),
        "metric": metric,
        "best_metric": None if metric is None else float(best),
    }
    advice, changes = _fix(run, sig, th)
    return [
        finding(
            run,
            RULE_ID,
            severity,
            sig,
            lo,
            n - 1,
            message,
            evidence,
            advice,
            changes,
            f"the loss went flat after {fmt(first)} → {fmt(early)} and the run never took off",
        )
    ]


def _starts(sig, smooth, n, th):
    """Rows from which the stall is measured: after the early share (and warmup), else the knee
    where the loss first reached its final level, when that came early."""
    yield max(int(n * th.early_frac), sig.warmup_end_row if sig.warmup_end_row < n // 2 else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        end = np.nanmedian(smooth[-max(3, n // 20) :])
    if np.isfinite(end) and end > 0:
        near = np.flatnonzero(np.nan_to_num(smooth, nan=np.inf) <= end * (1 + th.max_fall))
        if len(near) and near[0] <= th.knee_frac * n:
            yield int(near[0])


def _stall(sig, smooth, lo, q, n, th):
    with warnings.catch_warnings():  # all-NaN windows give NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        first, early, end = _levels(sig, smooth, lo, q)
        rise = np.nanmax(smooth[lo:n]) / early - 1 if early > 0 else np.nan
    if not (np.isfinite(first) and np.isfinite(early) and np.isfinite(end) and np.isfinite(rise)) or early <= 0:
        return None
    first_fall = 1 - early / first
    fall = 1 - end / early
    if first_fall < th.first_fall or fall >= th.max_fall or rise > th.max_rise:
        return None
    return lo, first, early, end, rise, first_fall, fall


def _fix(run, sig, th):
    """Lower the peak lr (to the top of a grounded range when above it; else a third, never below its
    bottom) and warm up longer; the words follow the model's family."""
    changes = []
    lr = lr_for_fix(run.meta, sig)
    if lr:
        ref = lr_reference(run.meta)
        effective = lr * lr_scale(run.meta).factor
        if ref and effective > ref.high:
            changes.append(lr_change(run, sig, effective_to=ref.high, reason=ref.short))
        elif effective / th.lr_divisor > (ref.low if ref else 0.0):
            changes.append(lr_change(run, sig, config_to=lr / th.lr_divisor, reason="a third of the run's lr"))
    warm = sig.warmup_iters or 0
    changes.append(warmup_change(run, sig, max(th.min_warmup_iters, 2 * warm), "reach the peak lr more slowly"))
    why = {
        "detr": "a too-high lr collapses a DETR decoder onto predicting no object",
        "dense": "a too-high lr drives a dense detector's classifier to background everywhere",
        "two-stage": "a too-high lr collapses the proposals and the classifier onto background",
    }
    advice = (
        f"{why.get(family(run.meta.config), 'a too-high lr can stall a detector at its first plateau')}; "
        "overfit one batch to check"
    )
    return advice, changes


def _levels(sig, smooth, lo, q):
    """(loss at the start, early level after the first fall, level at the end)."""
    # the loss at the start: the highest of the first three rows (a collapse takes only the first
    # rows); a spike later in the first twentieth is not the start
    first = np.nanmax(sig.loss[: min(3, q)])
    return first, np.nanmedian(smooth[lo : lo + q]), np.nanmedian(smooth[-q:])


def _headline(run):
    """(headline metric name, its best value) or (None, nan) when the log has no evaluation."""
    s = headline_series(run)
    return (s.name, s.best) if s is not None else (None, float("nan"))
