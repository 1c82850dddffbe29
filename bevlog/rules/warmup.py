"""warmup: trouble that starts right after the lr warmup ends (or right at the start without one).

Warmup is the schedule model's (bevlog/schedule.py): the config's `warmup_iters` (mmcv) or
warmup phase (mmengine), else the lr itself (a climb to its early peak). A cyclic or OneCycle
climb is the schedule, not a warmup. On a live log (`bevlog watch`) an lr-inferred warmup is not
over while the lr is still climbing, so nothing is said to happen "after" it. \
The other rise rules ignore rows inside warmup, where the loss may rise while the
lr climbs; this rule looks at the rows just after it: a loss that climbs ≥25% over its
minimum, turns non-finite, or a grad_norm ×10 there says the peak lr arrived too fast — unless the
grad_norm jumps recur long after it (then they are the peak lr's own trouble, grad-spike's business,
and a longer warmup would not stop them). A log that ends while the lr is still warming up has
no "after": there the rule looks at the warmup itself, and a loss that climbs ≥25% over its minimum
while the lr climbs, and has not come back when the log ends, is the lr's doing as it rises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.rules._common import (
    column,
    doc,
    finding,
    fmt,
    pct,
    rolling_median,
    runs_of,
    signals,
    warmup_change,
    where,
)
from bevlog.schedule import warmup_end

RULE_ID = "warmup"
SUMMARY = "loss blows up, turns non-finite or grad_norm explodes right after warmup ends (or without one)"


@dataclass(frozen=True)
class Thresholds:
    right_after_rows: int = doc(
        10, "rows after warmup (at least; or the warmup's own length in rows) in which trouble counts as 'right after'"
    )
    rise: float = doc(0.25, "smoothed loss this far above its minimum since warmup is trouble")
    rise_rows: int = doc(3, "rows the rise must last")
    grad_ratio: float = doc(10.0, "grad_norm this many times its median over the first rows is trouble")
    recur_after: int = doc(
        2,
        "grad_norm jumps that recur beyond this many 'right after' windows past warmup are "
        "no warmup's trouble (they go on at the peak lr)",
    )
    min_warmup_iters: int = doc(fixes.MIN_WARMUP_ITERS, "warmup length to suggest at least")


def find_warmup(run, th: Thresholds = Thresholds(), live: bool = False):
    sig = signals(run)
    n = len(sig.loss)
    if sig.mid_run:
        return []  # the log starts mid-run: its warmup (if any) is not in it
    start, warm = warmup_end(sig, live)
    right_after = max(th.right_after_rows, start)
    if start >= n and n:
        return _climb_inside(run, sig, th)
    if n - start < th.rise_rows + 2:
        return []
    horizon = min(n, start + 3 * right_after)
    trouble = _trouble(sig, start, horizon, right_after, th)
    if trouble is None:
        return []
    row, what, evidence = trouble
    to = int(max(th.min_warmup_iters, fixes.WARMUP_GROWTH * (warm or 0)))
    if warm:
        lead = f"right after the {warm:,}-iter warmup ended (at step {int(sig.step[start]):,}, {where(sig, start)})"
    else:
        lead = "in the first rows of a run without lr warmup"
    message = f"{what} {lead}: the peak lr arrives too fast"
    evidence.update({"warmup_iters": warm, "warmup_end_step": int(sig.step[start]) if start < n else None})
    changes = [warmup_change(run, sig, to, f"linear, from {fixes.WARMUP_RATIO_TEXT} of the lr")]
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            row,
            row,
            message,
            evidence,
            "",
            changes,
            f"{what.split(' at ')[0]} {lead.split(' (')[0]}",
        )
    ]


def _trouble(sig, start, horizon, right_after, th):
    # a missing `loss` column reads as NaN everywhere: only a logged column has non-finite rows
    bad = np.flatnonzero(~np.isfinite(sig.loss_raw[start:horizon]))
    began_inside = start > 0 and not np.isfinite(sig.loss_raw[start - 1])  # non-finite before warmup ended
    if sig.loss_logged and len(bad) and bad[0] < right_after and not began_inside:
        row = start + int(bad[0])
        return row, f"loss became non-finite at {where(sig, row)}", {"kind": "nonfinite"}
    s = rolling_median(sig.loss[start:horizon], sig.window)
    finite = np.isfinite(s)
    if finite.sum() > th.rise_rows:
        runmin = np.fmin.accumulate(np.where(finite, s, np.inf))
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = np.where(finite & (runmin > 0), s / runmin - 1, 0.0)
        for a, b in runs_of(excess >= th.rise):
            if b - a + 1 < th.rise_rows:
                continue
            min_row = int(np.flatnonzero(s[: a + 1] == runmin[a])[-1])
            if min_row < right_after:
                peak = float(np.nanmax(excess[a : b + 1]))
                return (
                    start + min_row,
                    f"loss climbed {pct(peak)} over its minimum {fmt(runmin[a])} from {where(sig, start + min_row)}",
                    {"kind": "rise", "rise": peak, "min_loss": float(runmin[a])},
                )
    g = column(sig.t, "grad_norm")[start:horizon]
    g = np.where(np.isfinite(g), g, np.nan)  # overflow rows are grad-nonfinite's business
    ref = g[: max(3, right_after // 2)]
    ref = ref[np.isfinite(ref)]
    if len(ref) >= 3 and np.median(ref) > 0:
        ratio = g / np.median(ref)
        hits = np.flatnonzero(np.nan_to_num(ratio[:right_after]) >= th.grad_ratio)
        rest = column(sig.t, "grad_norm")[start + th.recur_after * right_after :]
        if len(hits) and (np.nan_to_num(rest / np.median(ref)) >= th.grad_ratio).any():
            return None  # the jumps go on long after warmup: the lr's trouble (grad-spike), not the warmup's
        if len(hits):
            row = start + int(hits[0])
            return (
                row,
                f"grad_norm jumped ×{ratio[hits[0]]:.0f} at {where(sig, row)}",
                {"kind": "grad", "ratio": float(ratio[hits[0]])},
            )
    return None


def _climb_inside(run, sig, th):
    """The log ends inside the warmup: a smoothed loss ≥ `rise` over its running minimum for
    `rise_rows` rows that is still up at the last row rose with the lr. Rows that are already
    medians of many iterations (detectron2's) are smoothed enough: a second median over rows
    would erase a short warmup's first, lowest rows."""
    s = sig.loss if run.meta.loss_median_of else rolling_median(sig.loss, sig.window)
    finite = np.isfinite(s)
    if finite.sum() <= th.rise_rows:
        return []
    runmin = np.fmin.accumulate(np.where(finite, s, np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(finite & (runmin > 0), s / runmin - 1, 0.0)
    last = int(np.flatnonzero(finite)[-1])
    for a, b in runs_of(excess >= th.rise):
        if b - a + 1 < th.rise_rows or b < last:
            continue  # too short, or it came back before the log ends
        min_row = int(np.flatnonzero(s[: a + 1] == runmin[a])[-1])
        # onset: where the smoothed loss left its minimum for good (within a tenth of the rise of it)
        near = np.flatnonzero(np.nan_to_num(s[min_row : a + 1], nan=np.inf) <= runmin[a] * (1 + th.rise / 10))
        onset = min_row + int(near[-1]) if len(near) else min_row
        peak = float(np.nanmax(excess[a : b + 1]))
        lr = sig.lr
        lr_min, lr_end = (float(lr[onset]), float(lr[last])) if np.isfinite(lr[[onset, last]]).all() else (None, None)
        lr_text = (
            f" while the lr warmed up from {fmt(lr_min)} to {fmt(lr_end)} (still climbing when the log ends)"
            if lr_min and lr_end
            else " while the lr was still warming up when the log ends"
        )
        message = (
            f"loss climbed {pct(peak)} over its minimum {fmt(runmin[a])} from {where(sig, onset)}"
            f"{lr_text}: it rises with the lr"
        )
        evidence = {
            "kind": "rise_in_warmup",
            "rise": peak,
            "min_loss": float(runmin[a]),
            "lr_at_minimum": lr_min,
            "lr_at_end": lr_end,
        }
        advice = "a lower peak lr, or a longer warmup" + (
            f": the loss left its minimum at lr {fmt(lr_min)}" if lr_min else ""
        )
        return [
            finding(
                run,
                RULE_ID,
                "warning",
                sig,
                onset,
                last,
                message,
                evidence,
                advice,
                [],
                f"the loss climbed {pct(peak)} while the lr warmed up",
            )
        ]
    return []
