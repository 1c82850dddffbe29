"""divergence: after warmup, the smoothed loss climbs well above its running minimum and stays.

The loss is smoothed with a centred rolling median (rows are already interval means) and
compared with its running minimum after warmup: ≥25% above it for ≥10 rows, or doubled for
a few rows, is divergence. Rises inside warmup are ignored (the loss may rise while the lr
climbs); an lr restart starts a new phase whose first rows settle like a warmup (the loss
jumps when the lr does) before its running minimum is tracked; a resumed launch starts a phase too
(no window spans a resume). The finding reports where the rise began (the last minimum), the lr and
grad_norm there, and which final-layer loss component started rising first. A rise that did not
come back is an error; one that came back to within `recovered` of its minimum is a bump the run
got over by itself: a note, with no lr change (a training that heals itself is not fixed by a
lower lr, and the next run may not bump at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.recipes import lr_reference
from bevlog.rules._common import (
    clip_change,
    column,
    doc,
    finding,
    fmt,
    loss_columns,
    lr_change,
    lr_for_fix,
    phase_cuts,
    rolling_median,
    runs_of,
    signals,
    warmup_change,
    where,
)
from bevlog.schedule import lr_scale

RULE_ID = "divergence"
SUMMARY = "after warmup the smoothed loss rises ≥25% above its running minimum for ≥10 rows, or doubles"


@dataclass(frozen=True)
class Thresholds:
    rise: float = doc(0.25, "smoothed loss this far above its running minimum is a rise")
    min_rows: int = doc(10, "rows the rise must last")
    double: float = doc(1.0, "a rise this large (loss doubled) needs only `double_rows` rows")
    double_rows: int = doc(3, "rows a doubling must last")
    recovered: float = doc(0.10, "a rise that ends within this of the minimum recovered by itself (info)")
    component_rise: float = doc(0.10, "a component counts as rising once this far above its value at the minimum")
    lr_divisor: float = doc(
        fixes.DIVERGENCE_LR_DIVISOR,
        "when no grounded lr applies (or the lr is already at or below it): "
        "suggested peak lr = the lr where the rise began / this",
    )
    min_warmup_iters: int = doc(fixes.MIN_WARMUP_ITERS, "warmup length to suggest at least")
    restart_settle_rows: int = doc(
        20, "rows after an lr restart skipped before tracking the minimum (at least the warmup's length in rows)"
    )


def find_divergence(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    n = len(sig.loss)
    start = sig.warmup_end_row
    if n - start < th.double_rows + 2:
        return []
    # phases between lr restarts and resumed launches, each smoothed on its own (a centred median
    # must not see the jump of the next phase); a phase after a cut skips its settling rows
    settle = max(th.restart_settle_rows, start)
    cuts = [r for r in phase_cuts(sig) if r > start]
    phases = list(zip([start] + [min(n, c + settle) for c in cuts], cuts + [n]))
    smooth = np.full(n, np.nan)
    for a, b in phases:
        if b > a:
            smooth[a:b] = rolling_median(sig.loss[a:b], sig.window)
    for a, b in phases:
        hit = _first_divergence(smooth[a:b], th) if b - a > th.double_rows else None
        if hit is not None:
            lo, hi, min_row = (x + a for x in hit)
            return [_report(run, sig, smooth, lo, hi, min_row, th)]
    return []


def _first_divergence(s: np.ndarray, th):
    """(first row above, last row above, row of the minimum) in this phase, or None."""
    s = np.where(np.isfinite(s), s, np.nan)
    filled = _ffill(s)
    runmin = np.fmin.accumulate(np.where(np.isfinite(filled), filled, np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = filled / runmin - 1
    excess = np.where(np.isfinite(excess) & (runmin > 0), excess, 0.0)
    for lo, hi in runs_of(excess >= th.rise):
        length = hi - lo + 1
        doubled = runs_of(excess[lo : hi + 1] >= th.double)
        if length >= th.min_rows or any(b - a + 1 >= th.double_rows for a, b in doubled):
            level = runmin[lo]
            min_row = int(np.flatnonzero(filled[: lo + 1] == level)[-1])
            return lo, hi, min_row
    return None


def _ffill(x):
    idx = np.where(np.isfinite(x), np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    return x[idx]


def _report(run, sig, smooth, lo, hi, min_row, th):
    level = smooth[min_row]
    seg = smooth[lo : hi + 1]
    peak_row = lo + int(np.nanargmax(seg))
    peak = smooth[peak_row]
    end_level = smooth[np.flatnonzero(np.isfinite(smooth))[-1]]
    rows = hi - lo + 1
    # onset: where the smoothed loss left its minimum for good
    rising = np.flatnonzero(np.nan_to_num(smooth[min_row : lo + 1], nan=level) <= level * 1.02)
    onset = min_row + int(rising[-1]) if len(rising) else min_row
    lr_at = sig.lr[onset]
    g = column(sig.t, "grad_norm")
    g_before = _median(g[max(0, onset - 10) : onset + 1])
    g_during = _median(g[lo : hi + 1])
    g_ratio = g_during / g_before if np.isfinite(g_before) and g_before > 0 else float("nan")
    comp = _first_rising_component(sig, min_row, hi, th.component_rise)
    phase_end = hi
    while phase_end + 1 < len(smooth) and np.isfinite(smooth[phase_end + 1]) and phase_end + 1 not in phase_cuts(sig):
        phase_end += 1
    end_level = smooth[phase_end] if np.isfinite(smooth[phase_end]) else end_level
    recovered = end_level <= level * (1 + th.recovered)
    severity = "info" if recovered else "error"
    span_units = _span(sig, lo, hi)
    how = (
        f"rose to {peak / level:.3g}× its minimum"
        if peak > 2 * level
        else f"rose {100 * (peak / level - 1):.0f}% above its minimum"
    )
    msg = f"loss {how} ({fmt(level)} at {where(sig, min_row)}) and stayed ≥{th.rise:.0%} above it for {span_units}"
    if recovered:
        msg += f", then came back to {fmt(end_level)}"
    if np.isfinite(g_ratio):
        msg += f"; grad_norm ×{g_ratio:.1f} over the same span"
    if comp:
        msg += f"; {comp} rose first"
    evidence = {
        "min_loss": float(level),
        "min_step": int(sig.step[min_row]),
        "peak_loss": float(peak),
        "rise": float(peak / level - 1),
        "rows": int(rows),
        "onset_step": int(sig.step[onset]),
        "lr_at_onset": _float(lr_at),
        "grad_norm_before": _float(g_before),
        "grad_norm_during": _float(g_during),
        "first_component": comp,
        "end_loss": float(end_level),
        "recovered": bool(recovered),
    }
    if recovered:
        return finding(
            run,
            RULE_ID,
            severity,
            sig,
            onset,
            hi,
            msg,
            evidence,
            "nothing to change for a bump the run got over by itself; watch for repeats",
            [],
            f"the loss bumped {100 * (peak / level - 1):.0f}% at {where(sig, onset)} and recovered",
        )
    fix, changes = divergence_fix(run, sig, lr_at, th.lr_divisor, th.min_warmup_iters)
    return finding(
        run,
        RULE_ID,
        severity,
        sig,
        onset,
        hi,
        msg,
        evidence,
        fix,
        changes,
        f"the loss diverged from {where(sig, onset)} (lr {fmt(lr_at)})",
    )


def divergence_fix(run, sig, lr_at, lr_divisor, min_warmup):
    """Fix for a loss that climbs: the grounded lr for this batch (the run's own config intent or
    its model's published recipe, bevlog.recipes) when it is lower, else half the logged lr at
    which the rise began (carried to the config by its ratio to the schedule's peak); warmup; clip."""
    meta = run.meta
    base = lr_for_fix(meta, sig)
    changes, advice = [], ""
    if base:
        ref = lr_reference(meta)
        effective = base * lr_scale(meta).factor
        onset = lr_at if lr_at and np.isfinite(lr_at) and lr_at > 0 else None
        if ref and ref.high < effective * 0.8:
            changes.append(lr_change(run, sig, effective_to=ref.high, reason=ref.short))
        elif onset is not None:
            changes.append(
                lr_change(
                    run,
                    sig,
                    logged_to=onset / lr_divisor,
                    reason=f"half the logged {fmt(onset)} at which the rise began",
                )
            )
        else:
            changes.append(lr_change(run, sig, config_to=base / lr_divisor, reason="half the run's lr"))
    warm = sig.warmup_iters or 0
    if warm < min_warmup:
        changes.append(warmup_change(run, sig, min_warmup, f"linear, from {fixes.WARMUP_RATIO_TEXT} of the lr"))
    else:
        advice = f"keep the warmup of {warm:,} iterations"
    changes.append(clip_change(run))
    return advice, changes


def _first_rising_component(sig, min_row, hi, rise):
    best = None
    for c in loss_columns(sig.t, final_only=True):
        v = rolling_median(column(sig.t, c), sig.window)
        ref = v[min_row]
        if not np.isfinite(ref) or ref <= 0:
            continue
        above = np.flatnonzero(np.nan_to_num(v[min_row : hi + 1]) >= ref * (1 + rise))
        if len(above):
            first = int(above[0])
            growth = float(np.nanmax(v[min_row : hi + 1]) / ref)
            key = (first, -growth)
            if best is None or key < best[0]:
                best = (key, c)
    return best[1] if best else None


def _span(sig, lo, hi):
    if sig.step_unit == "epoch":
        return sig.steps(hi - lo + 1)  # a row is an epoch: the rows are the length
    if not sig.iter_runner and np.isfinite(sig.epoch_f[lo]) and np.isfinite(sig.epoch_f[hi]):
        return f"{sig.epoch_f[hi] - sig.epoch_f[lo]:.1f} epochs ({hi - lo + 1} rows)"
    return f"{sig.steps(sig.step[hi] - sig.step[lo])} ({hi - lo + 1} rows)"


def _median(x):
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def _float(x):
    return float(x) if x is not None and np.isfinite(x) else None
