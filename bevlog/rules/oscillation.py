"""oscillation: the loss's row-to-row scatter grows while its trend is flat.

Residuals are taken around the centred rolling median of the loss, relative to its level,
and their median absolute value is measured in consecutive windows after warmup. A window
whose scatter is ≥2× the median scatter of the windows before it, two windows in a row,
while the smoothed loss moves less than 2% across each, is an lr at the edge of stability
(or a batch too small for it). In healthy runs the scatter drifts up slowly as the loss
falls (≈1.6× over a whole DETR3D run); growth is judged against the windows just before.
A log of one row per epoch (a DETR log.txt) is not judged: each row is the mean of a whole epoch of
iterations, whose scatter is the iteration noise divided by √(iterations per epoch) — ±0.3% on
RT-DETR's — and says nothing about the lr's stability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.findings import Alternative
from bevlog.rules._common import (
    change,
    clip_change,
    doc,
    finding,
    lower_lr_fix,
    phase_of,
    rolling_median,
    signals,
    where,
)

RULE_ID = "oscillation"
SUMMARY = "scatter of the loss around its trend grows (≥2× the earlier windows) while the trend is flat"


@dataclass(frozen=True)
class Thresholds:
    windows: int = doc(20, "the post-warmup rows are cut into this many windows (each ≥ min_window rows)")
    min_window: int = doc(8, "fewest rows in a window")
    growth: float = doc(2.0, "scatter ≥ this × the median scatter of earlier windows is growth")
    consecutive: int = doc(2, "windows in a row that must show growth")
    flat: float = doc(0.02, "|relative change| of the smoothed loss across a window below which the trend is flat")
    min_reference_windows: int = doc(3, "earlier windows needed before judging growth")
    lr_divisor: float = doc(fixes.OSCILLATION_LR_DIVISOR, "suggested lr = base lr / this")


def find_oscillation(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    if sig.step_unit == "epoch":
        return []  # a row that is a whole epoch's mean has averaged the iteration noise away
    # the last phase of the run (after its last resume or warm restart), past warmup: no window
    # spans a boundary, where the loss jumps with the lr
    start, end = phase_of(sig, len(sig.step) - 1) if len(sig.step) else (0, 0)
    start = max(start, sig.warmup_end_row)
    loss = sig.loss[start:end]
    n = len(loss)
    size = max(th.min_window, n // th.windows)
    k = n // size
    if k < th.min_reference_windows + th.consecutive:
        return []
    smooth = rolling_median(loss, sig.window)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(loss - smooth) / smooth
    spreads, trends = [], []
    for w in range(k):
        seg = slice(w * size, (w + 1) * size)
        r = rel[seg]
        r = r[np.isfinite(r)]
        spreads.append(float(np.median(r)) if len(r) >= 3 else np.nan)
        s = smooth[seg]
        s = s[np.isfinite(s)]
        trends.append(float(s[-1] / s[0] - 1) if len(s) >= 2 and s[0] > 0 else np.nan)
    spreads, trends = np.array(spreads), np.array(trends)
    streak = []
    for w in range(1, k):  # skip window 0: the steep early descent confuses the smoother
        ref = spreads[1:w]
        ref = ref[np.isfinite(ref)]
        # a loss stuck at one value has no scatter to grow from (and no ratio to state)
        grown = (
            len(ref) >= th.min_reference_windows
            and np.isfinite(spreads[w])
            and np.median(ref) > 0
            and spreads[w] >= th.growth * np.median(ref)
            and abs(trends[w]) < th.flat
        )
        streak = streak + [w] if grown else []
        if len(streak) >= th.consecutive:
            break
    if len(streak) < th.consecutive:
        return []
    w0 = streak[0]
    ref = float(np.median(spreads[1:w0][np.isfinite(spreads[1:w0])]))
    # the growth persists until a window falls back below the threshold
    w1 = streak[-1]
    while w1 + 1 < k and np.isfinite(spreads[w1 + 1]) and spreads[w1 + 1] >= th.growth * ref:
        w1 += 1
    lo, hi = start + w0 * size, start + (w1 + 1) * size - 1
    now = float(np.nanmax(spreads[w0 : w1 + 1]))
    message = (
        f"the loss scatters ±{now:.1%} around its trend at {where(sig, lo, hi)}, "
        f"{now / ref:.1f}× the ±{ref:.1%} before, while the trend is flat "
        f"({trends[w0]:+.1%} per window)"
    )
    evidence = {
        "scatter": now,
        "scatter_before": ref,
        "growth": now / ref,
        "trend": [float(x) for x in trends[w0 : w1 + 1]],
        "window_rows": int(size),
    }
    changes = lower_lr_fix(run, sig, th.lr_divisor, "half the run's lr")
    changes.append(clip_change(run))
    batch = run.meta.total_batch
    doubled = (
        f"total batch {batch} → {batch * fixes.ACCUMULATION_STEPS} at the same lr"
        if batch
        else "twice the batch at the same lr"
    )
    instead = Alternative(
        "lr", [change(run, "gradient_accumulation", fixes.ACCUMULATION_STEPS, reason=doubled)], fixes.NOISE_BASIS
    )
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            lo,
            hi,
            message,
            evidence,
            "",
            changes,
            f"the loss scatters {now / ref:.1f}× more around a flat trend from {where(sig, lo)}",
            alternative=instead,
        )
    ]
