"""grad-nonfinite: rows whose grad_norm is nan/inf.

grad_norm is logged only when grad clipping is on, and it is the norm before clipping,
averaged over the logging interval: one overflowed iteration makes the row inf/nan. Under
fp16 with dynamic loss scaling those iterations are skipped and the scale halves, so
isolated non-finite rows while the loss keeps falling are benign (info). Non-finite rows
that persist while the loss stops improving mean the weights are being corrupted (error).
A grad_norm that is inf/nan in every row while the loss stays flat means no step was ever
applied: under fp16, a static loss scale too large for the model (error; fix: dynamic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import (
    change,
    column,
    doc,
    dynamic_loss_scale,
    finding,
    lower_lr_fix,
    nonfinite_rows,
    pct,
    rolling_median,
    runs_of,
    signals,
)
from bevlog.rules._grad import suggested_clip

RULE_ID = "grad-nonfinite"
SUMMARY = "share of rows with nan/inf grad_norm; benign fp16 overflow skips vs persistent corruption"


@dataclass(frozen=True)
class Thresholds:
    persistent_rows: int = doc(5, "this many consecutive non-finite rows make it persistent")
    tail_rows: int = doc(20, "the last rows looked at for a persistent share")
    tail_share: float = doc(0.5, "share of non-finite rows among the last `tail_rows` that makes it persistent")
    improving: float = doc(
        0.01, "the loss must fall by at least this fraction across the bad rows to count as still improving"
    )
    lr_divisor: float = doc(3.0, "suggested lr = base lr / this when it is an error")
    min_rows: int = doc(5, "fewest rows for 'every step overflowed'")
    min_inf_share: float = doc(
        0.5,
        "share of rows that must read inf (not only nan, which is also how a grad_norm "
        "that is not logged reads) for 'every step overflowed'",
    )
    flat_loss: float = doc(0.05, "the loss changing less than this over the run is flat: the weights did not move")


def find_grad_nonfinite(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    g = column(sig.t, "grad_norm")
    logged = np.isfinite(g)
    if not logged.any():
        # a grad_norm never logged reads NaN; one that is inf in every row was logged, and says
        # that every step overflowed
        return _every_step_skipped(run, sig, g, th)
    bad = nonfinite_rows(sig, g)
    n, n_bad = len(g), int(bad.sum())
    if n_bad == 0:
        return []
    spans = runs_of(bad)
    longest = max(b - a + 1 for a, b in spans)
    tail = bad[-th.tail_rows :]
    tail_share = float(tail.mean())
    persistent = longest >= th.persistent_rows or (len(tail) >= 5 and tail_share >= th.tail_share)
    first, last = spans[0][0], spans[-1][1]

    smooth = rolling_median(sig.loss, sig.window)
    if persistent:
        a, b = max(spans, key=lambda s: s[1] - s[0])
        if tail_share >= th.tail_share:
            a, b = n - len(tail), n - 1
        loss_change = _change(smooth, a, b)
    else:
        loss_change = _change(smooth, first, n - 1)
    loss_bad = not np.isfinite(sig.loss[-1]) or (np.isfinite(loss_change) and loss_change > -th.improving)
    fp16 = run.meta.fp16
    evidence = {
        "rows": n_bad,
        "of": n,
        "share": n_bad / n,
        "longest_run": longest,
        "tail_share": tail_share,
        "loss_change": loss_change,
        "fp16": fp16,
    }
    share = f"{n_bad} of {n} rows ({n_bad / n:.1%}) have a non-finite grad_norm"

    if persistent and loss_bad:
        severity = "error"
        how = f"{pct(loss_change)} over that stretch" if np.isfinite(loss_change) else "it is non-finite itself"
        message = (
            f"{share}, {longest} in a row, and the loss stopped improving "
            f"({how}): the updates are corrupting the weights"
        )
    elif persistent:
        severity = "warning"
        message = (
            f"{share}, {longest} in a row; the loss still moved {pct(loss_change)}, "
            f"but that many skipped or clipped-to-nothing steps waste training"
        )
    elif fp16 is False:
        severity = "warning"
        message = (
            f"{share} in an fp32 run, although the loss kept improving ({pct(loss_change)}); "
            f"fp32 gradients should not overflow"
        )
    elif loss_bad:
        severity = "warning"
        message = f"{share} and the loss did not improve after them ({pct(loss_change)})"
    else:
        severity = "info"
        cause = (
            "fp16 overflow steps that the dynamic loss scaler skips"
            if fp16
            else "what fp16 overflow steps skipped by a dynamic loss scaler look like"
        )
        message = (
            f"{share}, isolated, and the loss kept falling ({pct(loss_change)} from the first one to "
            f"the end): {cause}, benign"
        )

    if severity == "info":
        return [
            finding(
                run,
                RULE_ID,
                severity,
                sig,
                first,
                last,
                message,
                evidence,
                "nothing to change while the loss keeps improving",
                [],
            )
        ]
    changes = lower_lr_fix(run, sig, th.lr_divisor, "a third of the run's lr")
    if fp16 and dynamic_loss_scale(run.meta) is not True:
        changes.append(change(run, "fp16_loss_scale", "dynamic", reason="a dynamic scaler skips overflowing steps"))
    if not run.meta.grad_clip:
        changes.append(change(run, "grad_clip", suggested_clip(g), reason="cap the rare bad batch"))
    advice = "rescale the lr to the total batch if it was changed"
    return [finding(run, RULE_ID, severity, sig, first, last, message, evidence, advice, changes)]


def _every_step_skipped(run, sig, g, th):
    """grad_norm inf/nan in every row while the loss stays flat: under fp16 every step
    overflowed and was skipped, so the weights never moved — a static loss scale too large
    for this model (a dynamic scaler would have halved it after the first overflow)."""
    n = len(g)
    infs = int(np.isinf(g).sum())
    if n < th.min_rows or infs < th.min_inf_share * n:
        return []  # NaN alone is how a grad_norm that is not logged reads
    smooth = rolling_median(sig.loss, sig.window)
    loss_change = _change(smooth, 0, n - 1)
    if not np.isfinite(loss_change) or abs(loss_change) > th.flat_loss:
        return []
    fp16 = run.meta.fp16
    static = dynamic_loss_scale(run.meta) is False
    scale = _static_scale(run.meta)
    cause = (
        f"the static fp16 loss scale{f' {scale:g}' if scale else ''} is too large: every step overflowed "
        f"and was skipped, so the weights never moved"
        if fp16 is not False and dynamic_loss_scale(run.meta) is not True
        else "every step produced a non-finite gradient, so no update was applied"
    )
    message = (
        f"grad_norm is non-finite in all {n} rows ({infs} inf) while the loss stayed flat "
        f"({pct(loss_change)} over the run): {cause}"
    )
    evidence = {
        "rows": n,
        "of": n,
        "share": 1.0,
        "inf_rows": infs,
        "loss_change": loss_change,
        "fp16": fp16,
        "static_loss_scale": static,
        "loss_scale": scale,
        "kind": "every_step",
    }
    if fp16 is not False and dynamic_loss_scale(run.meta) is not True:
        fix = "a dynamic scaler halves the scale after an overflow instead of skipping every step"
        changes = [change(run, "fp16_loss_scale", "dynamic", scale)]
    else:
        fix = "overfit one batch in fp32 to find the layer whose gradient is non-finite; check the data for nan/inf"
        changes = []
    return [finding(run, RULE_ID, "error", sig, 0, n - 1, message, evidence, fix, changes)]


def _static_scale(meta):
    """The static loss scale the config sets (512.0), None when dynamic or not said."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    for c in (cfg.get("fp16"), cfg.get("optimizer_config"), cfg.get("optim_wrapper")):
        if (
            isinstance(c, dict)
            and isinstance(c.get("loss_scale"), (int, float))
            and not isinstance(c.get("loss_scale"), bool)
        ):
            return float(c["loss_scale"])
    return None


def _change(smooth: np.ndarray, a: int, b: int) -> float:
    """Relative change of the smoothed loss from just before row a to row b."""
    before = smooth[max(0, a - 5) : a + 1]
    after = smooth[max(a, b - 5) : b + 1]
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if not len(before) or not len(after) or before[0] == 0:
        return float("nan")
    return float(np.median(after) / np.median(before) - 1)
