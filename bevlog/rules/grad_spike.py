"""grad-spike: grad_norm far above the rolling median of the rows before it.

×5 is a spike (info), ×10 — or ×5 for several rows in a row — an explosion (warning);
either escalates one level when the loss rises after it. The loss on the event's own rows is said
too (a loss that jumped with the gradient and came straight back reacted, it did not "shrug it off").
An explosion the loss did not react to is a note when the run clips its gradients (the clip did its job) \
and went well (its outcome is
not poor: bevlog.rules._common.Outcome): halving the lr of such a run fixes nothing. grad_norm is the norm before
clipping, logged only when clipping is on, so a run without it has nothing to say here.
Rows inside warmup are skipped: early gradients are large by nature. Ratios are taken
against the run's own scale with floors (a share of its median, a few rounding steps of the
log), so gradients of 1e-4 logged at 4 decimals do not make rounding look like spikes, and a
suggested clip is never far above every value the run logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bevlog import fixes
from bevlog.rules._common import (
    change,
    column,
    doc,
    finding,
    fmt,
    lower_lr_fix,
    outcome,
    pct,
    runs_of,
    signals,
    warmup_change,
    where,
)
from bevlog.rules._grad import MIN_QUANTA, quantum, suggested_clip

RULE_ID = "grad-spike"
SUMMARY = "grad_norm jumps ×5 (spike) or ×10 / sustained ×5 (explosion) over its recent median"


@dataclass(frozen=True)
class Thresholds:
    window: int = doc(20, "rows of finite grad_norm before a row that form its baseline median")
    min_history: int = doc(8, "rows of baseline needed before judging")
    spike: float = doc(5.0, "grad_norm / baseline at which a row is a spike")
    explosion: float = doc(10.0, "grad_norm / baseline at which a row is an explosion")
    sustained_rows: int = doc(3, "consecutive spike rows that count as an explosion")
    loss_rise: float = doc(
        0.10, "loss rise after the event (median of the next rows over the previous rows) that escalates the severity"
    )
    after_rows: int = doc(10, "rows after the event looked at for a loss rise")
    loss_jump: float = doc(
        0.5,
        "loss on the event's own rows this far above its median before (one row is noisy) "
        "reacted to it, even when it came straight back",
    )
    max_events: int = doc(5, "report at most this many events (the worst)")
    lr_divisor: float = doc(2.0, "suggested lr = base lr / this")
    run_floor: float = doc(
        0.2,
        "a baseline is at least this share of the run's median grad_norm after warmup "
        "(a lull must not make ordinary rows look like spikes)",
    )


def find_grad_spike(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    g = column(sig.t, "grad_norm")
    finite = np.isfinite(g)
    if finite.sum() < th.min_history + 1:
        return []
    base = pd.Series(np.where(finite, g, np.nan)).rolling(th.window, min_periods=th.min_history).median()
    base = base.shift(1).ffill().to_numpy()
    # the run's own scale, with floors: a baseline is never below a share of the run's median
    # nor below a few rounding steps of the log (tiny gradients logged at 4 decimals)
    settled = g[sig.warmup_end_row :] if finite[sig.warmup_end_row :].any() else g
    floor = max(th.run_floor * float(np.nanmedian(settled[np.isfinite(settled)])), MIN_QUANTA * quantum(g))
    base = np.where(np.isfinite(base), np.maximum(base, floor), np.nan)
    ratio = np.full(len(g), np.nan)
    np.divide(g, base, out=ratio, where=finite & np.isfinite(base) & (base > 0))
    ratio[: sig.warmup_end_row] = np.nan
    flagged = np.nan_to_num(ratio) >= th.spike
    events = []
    for a, b in runs_of(flagged):
        peak_row = a + int(np.nanargmax(ratio[a : b + 1]))
        peak = float(ratio[peak_row])
        explosion = peak >= th.explosion or (b - a + 1) >= th.sustained_rows
        rise = _loss_rise(sig.loss, a, b, th.after_rows)
        jump = _loss_jump(sig.loss, a, b, th.after_rows)
        escalate = np.isfinite(rise) and rise >= th.loss_rise
        jumped = np.isfinite(jump) and jump >= th.loss_jump  # the loss spiked on the same rows, then came back
        harmless = explosion and not escalate and not jumped and bool(run.meta.grad_clip) and not outcome(run).poor
        levels = ["info", "warning", "error"]
        severity = levels[min(2, int(explosion and not harmless) + int(escalate))]
        events.append((levels.index(severity), peak, a, b, peak_row, rise, explosion, jump))
    if not events:
        return []
    events.sort(key=lambda e: (-e[0], -e[1]))
    total = len(events)
    out = []
    for level, peak, a, b, peak_row, rise, explosion, jump in events[: th.max_events]:
        kind = "explosion" if explosion else "spike"
        spiked = np.isfinite(jump) and jump >= th.loss_jump
        with_it = (
            f"; the loss jumped to {fmt(np.nanmax(sig.loss[a : b + 1]))} with it (×{1 + jump:.3g} its level)"
            if spiked
            else ""
        )
        if np.isinf(rise):
            after = with_it + "; the loss went non-finite after it"
        elif np.isfinite(rise) and rise >= th.loss_rise:
            after = with_it + f"; the loss rose {pct(rise)} in the next {th.after_rows} rows"
        elif spiked:
            after = with_it + " and was back at its level in the next rows"
        else:
            after = "; the loss did not rise after it"
        message = (
            f"grad_norm {kind} at {where(sig, a, b)}: {fmt(g[peak_row])} is ×{peak:.1f} its recent "
            f"median {fmt(base[peak_row])}" + (f" for {b - a + 1} rows" if b > a else "") + after
        )
        evidence = {
            "peak_ratio": peak,
            "grad_norm": float(g[peak_row]),
            "baseline": float(base[peak_row]),
            "rows": int(b - a + 1),
            "loss_rise_after": rise,
            "loss_jump": jump,
            "events_total": total,
            "kind": kind,
        }
        changes = []
        if level == 0:
            clip = run.meta.grad_clip
            fix = (
                f"nothing to change: the clip at max_norm {fmt(clip)} caught it and the loss did not react"
                if explosion and clip
                else "nothing to change for a spike the loss shrugged off; watch for repeats"
            )
        else:
            changes = lower_lr_fix(run, sig, th.lr_divisor, "half the run's lr")
            if not run.meta.grad_clip:
                changes.append(change(run, "grad_clip", suggested_clip(g), reason="cap the rare bad batch"))
            early = max(3 * (sig.warmup_iters or 0), 0.1 * sig.step[-1])
            if sig.step[a] <= early:
                warm = sig.warmup_iters or 0
                changes.append(
                    warmup_change(
                        run, sig, max(fixes.MIN_WARMUP_ITERS, fixes.WARMUP_GROWTH * warm), "the explosion came early"
                    )
                )
            fix = ""
        headline = f"grad_norm {'exploded' if explosion else 'spiked'} ×{peak:.0f} at {where(sig, a)}" + (
            f" (the loss {fmt(np.nanmax(sig.loss[a : b + 1]))} with it)" if spiked else ""
        )
        out.append(
            finding(
                run, RULE_ID, ["info", "warning", "error"][level], sig, a, b, message, evidence, fix, changes, headline
            )
        )
    return out


def _loss_jump(loss, a, b, after):
    """The loss on the event's own rows over its median in the rows before (0.5 = 50% above)."""
    before = loss[max(0, a - after) : a]
    during = loss[a : b + 1]
    before, during = before[np.isfinite(before)], during[np.isfinite(during)]
    if not len(before) or not len(during) or np.median(before) <= 0:
        return float("nan")
    return float(np.max(during) / np.median(before) - 1)


def _loss_rise(loss, a, b, after):
    before = loss[max(0, a - after) : a]
    later = loss[b + 1 : b + 1 + after]
    before, later = before[np.isfinite(before)], later[np.isfinite(later)]
    if len(later) == 0 and b + 1 < len(loss):
        return float("inf")  # the loss went non-finite after the event
    if not len(before) or not len(later) or np.median(before) <= 0:
        return float("nan")
    return float(np.median(later) / np.median(before) - 1)
