"""lr-drop: lr step changes (step decay, restarts) and what the loss did across each.

A loss drop right after an lr step is the schedule's doing, not the model getting better:
this rule labels it so, as information, so nobody reads it as an improvement when
comparing checkpoints. Steps are detected in the logged lr (param group 0 only) as a fall
after a flat stretch. Not steps: the 5-decimal rounding of mmcv's .log.json, and a cosine
or poly schedule updated once per epoch (`by_epoch=True` makes its lr a staircase whose
late treads fall by 30-70%): when the config names such a policy, or the lr takes more
than `max_levels` distinct values after warmup, only restarts are reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import doc, finding, fmt, lr_changes, pct, signals, where

RULE_ID = "lr-drop"
SUMMARY = "lr steps and restarts, with the loss change across each (schedule-induced drops)"


@dataclass(frozen=True)
class Thresholds:
    drop_ratio: float = doc(0.7, "a row whose lr is ≤ this × the previous (flat) lr is a step")
    rise_ratio: float = doc(1.5, "a row whose lr is ≥ this × the previous after warmup is a restart")
    rows: int = doc(5, "rows on each side of the step compared (medians)")
    moved: float = doc(0.02, "a loss change at least this large is attributed to the step")
    max_levels: int = doc(6, "more distinct lr levels than this after warmup is a continuous schedule")


CONTINUOUS_POLICIES = ("cosine", "poly", "exp", "inv", "linear", "onecycle", "flat")


def continuous_schedule(run, sig, max_levels: int) -> bool:
    """True when the lr follows a continuous curve (sampled per epoch), not a step schedule."""
    sched = run.meta.get("lr_schedule")
    policy = str((sched or {}).get("policy") or "").lower() if isinstance(sched, dict) else ""
    if policy:
        if "step" in policy:
            return False
        if any(p in policy for p in CONTINUOUS_POLICIES) and "restart" not in policy:
            return True
    lr = sig.lr[sig.warmup_end_row:]
    lr = lr[np.isfinite(lr) & (lr > 0)]
    if len(lr) < 2:
        return False
    changes = np.abs(np.diff(lr)) > 0.01 * lr[:-1]
    return int(changes.sum()) + 1 > max_levels


def find_lr_drop(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    drops, restarts = lr_changes(sig, th.drop_ratio, th.rise_ratio)
    if continuous_schedule(run, sig, th.max_levels):
        drops = []
    out = []
    for ch in drops + restarts:
        i = ch.row
        before = sig.loss[max(0, i - th.rows):i]
        after = sig.loss[i:i + th.rows]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        change = (float(np.median(after) / np.median(before) - 1)
                  if len(before) and len(after) and np.median(before) > 0 else float("nan"))
        iters = int(sig.step[min(i + th.rows - 1, len(sig.step) - 1)] - sig.step[i - 1]) if i > 0 else 0
        is_drop = ch.after < ch.before
        kind = "step" if is_drop else "restart"
        if not np.isfinite(change):
            tail = "the loss around it is not logged"
        elif is_drop and change <= -th.moved:
            tail = f"the loss fell {-change:.1%} within {iters:,} iters: the schedule did it, not the model"
        elif not is_drop and change >= th.moved:
            tail = f"the loss rose {change:.1%} within {iters:,} iters: expected after a restart"
        elif abs(change) < th.moved:
            tail = f"the loss barely moved ({pct(change)} within {iters:,} iters)"
        else:
            tail = f"the loss moved {pct(change)} within {iters:,} iters, against the step"
        message = f"lr {fmt(ch.before)} → {fmt(ch.after)} at {where(sig, i)}; {tail}"
        evidence = {"lr_before": ch.before, "lr_after": ch.after, "loss_change": change, "kind": kind,
                    "step": int(sig.step[i])}
        fix = ("compare checkpoints at a matched lr phase (both before or both after the step), "
               "not across it")
        out.append(finding(run, RULE_ID, "info", sig, i, i, message, evidence, fix, []))
    return out
