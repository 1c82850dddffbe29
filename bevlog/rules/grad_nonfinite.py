"""grad-nonfinite: rows whose grad_norm is nan/inf.

grad_norm is logged only when grad clipping is on, and it is the norm before clipping,
averaged over the logging interval: one overflowed iteration makes the row inf/nan. Under
fp16 with dynamic loss scaling those iterations are skipped and the scale halves, so
isolated non-finite rows while the loss keeps falling are benign (info). Non-finite rows
that persist while the loss stops improving mean the weights are being corrupted (error).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import (column, doc, dynamic_loss_scale, finding, lower_lr_fix,
                                  nonfinite_rows, pct, rolling_median, runs_of, signals)

RULE_ID = "grad-nonfinite"
SUMMARY = "share of rows with nan/inf grad_norm; benign fp16 overflow skips vs persistent corruption"


@dataclass(frozen=True)
class Thresholds:
    persistent_rows: int = doc(5, "this many consecutive non-finite rows make it persistent")
    tail_rows: int = doc(20, "the last rows looked at for a persistent share")
    tail_share: float = doc(0.5, "share of non-finite rows among the last `tail_rows` that makes it persistent")
    improving: float = doc(0.01, "the loss must fall by at least this fraction across the bad rows to "
                                 "count as still improving")
    lr_divisor: float = doc(3.0, "suggested lr = base lr / this when it is an error")


def find_grad_nonfinite(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    g = column(sig.t, "grad_norm")
    logged = np.isfinite(g)
    if not logged.any():
        return []  # not logged: clipping is off (or the column is absent)
    bad = nonfinite_rows(sig, g)
    n, n_bad = len(g), int(bad.sum())
    if n_bad == 0:
        return []
    spans = runs_of(bad)
    longest = max(b - a + 1 for a, b in spans)
    tail = bad[-th.tail_rows:]
    tail_share = float(tail.mean())
    persistent = longest >= th.persistent_rows or (len(tail) >= 5 and tail_share >= th.tail_share)
    first, last = spans[0][0], spans[-1][1]

    smooth = rolling_median(sig.loss, sig.window)
    if persistent:
        a, b = max(spans, key=lambda s: s[1] - s[0])
        if tail_share >= th.tail_share:
            a, b = n - len(tail), n - 1
        change = _change(smooth, a, b)
    else:
        change = _change(smooth, first, n - 1)
    loss_bad = not np.isfinite(sig.loss[-1]) or (np.isfinite(change) and change > -th.improving)
    fp16 = run.meta.get("fp16")
    evidence = {"rows": n_bad, "of": n, "share": n_bad / n, "longest_run": longest,
                "tail_share": tail_share, "loss_change": change, "fp16": fp16}
    share = f"{n_bad} of {n} rows ({n_bad / n:.1%}) have a non-finite grad_norm"

    if persistent and loss_bad:
        severity = "error"
        how = (f"{pct(change)} over that stretch" if np.isfinite(change)
               else "it is non-finite itself")
        message = (f"{share}, {longest} in a row, and the loss stopped improving "
                   f"({how}): the updates are corrupting the weights")
    elif persistent:
        severity = "warning"
        message = (f"{share}, {longest} in a row; the loss still moved {pct(change)}, "
                   f"but that many skipped or clipped-to-nothing steps waste training")
    elif fp16 is False:
        severity = "warning"
        message = (f"{share} in an fp32 run, although the loss kept improving ({pct(change)}); "
                   f"fp32 gradients should not overflow")
    elif loss_bad:
        severity = "warning"
        message = f"{share} and the loss did not improve after them ({pct(change)})"
    else:
        severity = "info"
        cause = "fp16 overflow steps that the dynamic loss scaler skips" if fp16 else \
            "what fp16 overflow steps skipped by a dynamic loss scaler look like"
        message = (f"{share}, isolated, and the loss kept falling ({pct(change)} from the first one to "
                   f"the end): {cause}, benign")

    if severity == "info":
        return [finding(run, RULE_ID, severity, sig, first, last, message, evidence,
                        "nothing to change while the loss keeps improving", [])]
    changes, bits = lower_lr_fix(run.meta, sig, th.lr_divisor)
    if fp16 and dynamic_loss_scale(run.meta) is not True:
        changes.append({"param": "loss_scale", "to": "dynamic"})
        bits.append("dynamic loss scale")
    clip = run.meta.get("grad_clip")
    if not clip:
        changes.append({"param": "grad_clip", "to": 35})
        bits.append("clip grad_norm at 35")
    bits.append("rescale the lr to the total batch if it was changed")
    return [finding(run, RULE_ID, severity, sig, first, last, message, evidence, "; ".join(bits), changes)]


def _change(smooth: np.ndarray, a: int, b: int) -> float:
    """Relative change of the smoothed loss from just before row a to row b."""
    before = smooth[max(0, a - 5):a + 1]
    after = smooth[max(a, b - 5):b + 1]
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if not len(before) or not len(after) or before[0] == 0:
        return float("nan")
    return float(np.median(after) / np.median(before) - 1)
