"""plateau: the loss stopped falling while the lr is still high.

Over the last fifth of the post-warmup run the loss (median of the first vs the last quarter
of that window) fell less than 1% while the lr is still ≥10% of its peak: the lr is not
the reason it stopped. A cosine tail is flat by design and is left alone (lr < 10% of
peak); a loss that is rising belongs to divergence. The peak is the schedule's
(bevlog/schedule.py): a cyclic schedule's is its config peak, and a log that starts at a resume
is measured against the config's lr, never against what is left of the run's maximum (without a
config such a log is not judged). The window never spans a resume or a warm restart: it lies in
the run's last phase, and a last phase too short for it is not judged.

A run trained at one constant lr from its first row to its last (no warmup, no decay: RT-DETR's
recipe) whose headline metric rose and ends near its best has converged at that lr: its plateau is
where such a recipe ends, not a stall a schedule should have prevented. That is a note (a decay is
what step recipes gain their last points with), not a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import doc, finding, fmt, outcome, phase_of, signals, where

RULE_ID = "plateau"
SUMMARY = "loss fell <1% over the last window while the lr is still ≥10% of its peak"


@dataclass(frozen=True)
class Thresholds:
    window_frac: float = doc(0.2, "fraction of the post-warmup rows (the end) looked at")
    min_rows: int = doc(12, "fewest rows in the window")
    min_fall: float = doc(0.01, "a relative fall below this is a plateau")
    max_rise: float = doc(0.10, "a rise above this is divergence's business, not a plateau")
    lr_frac: float = doc(0.10, "only while the lr is still ≥ this fraction of its peak")
    constant_lr: float = doc(0.01, "an lr whose highest and lowest logged values differ by less than this is constant")


def find_plateau(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    n = len(sig.loss)
    # the window lies inside the run's last phase (after its last resume or warm restart)
    start = max(sig.warmup_end_row, phase_of(sig, n - 1)[0] if n else 0)
    rows = max(th.min_rows, int((n - start) * th.window_frac))
    if n - start < rows:
        return []
    lo = n - rows
    loss = sig.loss[lo:]
    q = max(3, rows // 4)
    head, tail = loss[:q], loss[-q:]
    head, tail = head[np.isfinite(head)], tail[np.isfinite(tail)]
    if len(head) < 2 or len(tail) < 2 or np.median(head) <= 0:
        return []
    fall = float(1 - np.median(tail) / np.median(head))
    if fall >= th.min_fall or fall < -th.max_rise:
        return []
    peak = sig.schedule.peak_lr()
    lr_end = sig.lr[np.isfinite(sig.lr)][-1] if np.isfinite(sig.lr).any() else np.nan
    if not peak or not np.isfinite(lr_end) or lr_end < th.lr_frac * peak:
        return []
    message = (
        f"the loss moved only {-fall:+.1%} over {where(sig, lo, n - 1)} "
        f"(median {fmt(np.median(head))} → {fmt(np.median(tail))}) while the lr is still "
        f"{lr_end / peak:.0%} of its peak ({fmt(lr_end)})"
    )
    evidence = {
        "fall": fall,
        "loss_start": float(np.median(head)),
        "loss_end": float(np.median(tail)),
        "lr_end": float(lr_end),
        "lr_peak": float(peak),
        "rows": int(rows),
    }
    fix = (
        "check the lr schedule against the run's length (see schedule), the lr against the total batch "
        "(see lr-batch), that pretrained weights loaded, and that the model can overfit one batch"
    )
    severity = "warning"
    lr = sig.lr[np.isfinite(sig.lr) & (sig.lr > 0)]
    result = outcome(run)
    if len(lr) and lr.max() <= lr.min() * (1 + th.constant_lr) and result.learns and result.metric is not None:
        m = result.metric
        severity = "info"
        message += (
            f"; the lr was {fmt(lr_end)} from the first row to the last and {m.name} ended near its best "
            f"({fmt(m.value[-1])}, best {fmt(m.best)}): the run converged at this lr"
        )
        evidence["converged_constant_lr"] = True
        fix = (
            "nothing is wrong; a decay of the lr (×0.1 for the last tenth of the run) is what step recipes "
            "gain more with"
        )
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
            fix,
            [],
            f"the loss stopped falling at {where(sig, lo)} while the lr is still {lr_end / peak:.0%} of its peak",
        )
    ]
