"""nonfinite-loss: the loss (or a component) became nan/inf.

A logged row is a mean over the logging interval, so one bad iteration makes the row nan/inf.
A run that recovers on the next rows gets a warning; one that stays non-finite is broken.
The first component to go bad is named: at the first bad row, the non-finite component
that had risen most over its recent median. (A loss that is exactly 0 is `loss-zero`'s.) A total
loss the log never wrote (TensorBoard tags, a format that logs only its terms) is absent, not nan:
then only a term that goes non-finite after finite values counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.rules._common import (
    AUX_KEY,
    change,
    column,
    doc,
    finding,
    fmt,
    loss_columns,
    lower_lr_fix,
    nonfinite_rows,
    row_terms,
    runs_of,
    signals,
    warmup_change,
    where,
)

RULE_ID = "nonfinite-loss"
SUMMARY = "loss or a loss component becomes nan/inf"


@dataclass(frozen=True)
class Thresholds:
    persistent_rows: int = doc(3, "consecutive non-finite rows (or the last row) that make it an error")
    lr_divisor: float = doc(3.0, "suggested lr = base lr / this (the table's 'lower lr 2-5x')")
    lookback_rows: int = doc(10, "rows before the first bad row used to judge which component rose first")


def find_nonfinite_loss(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    t = sig.t
    if len(t) == 0:
        return []
    out = []
    comps = loss_columns(t)
    if sig.loss_logged:
        bad = nonfinite_rows(sig, sig.loss_raw)
    else:  # no total logged (absent, not non-finite): any component going non-finite after a finite value
        bad = np.zeros(len(t), dtype=bool)
        for c in comps:
            v = column(t, c)
            seen = np.maximum.accumulate(np.isfinite(v))
            bad |= seen & nonfinite_rows(sig, v)
    if bad.any():
        out.append(_nonfinite(run, sig, bad, comps, th))
    return out


def _nonfinite(run, sig, bad, comps, th):
    t = sig.t
    spans = runs_of(bad)
    first = spans[0][0]
    n_bad = int(bad.sum())
    persistent = bad[-1] or any(b - a + 1 >= th.persistent_rows for a, b in spans)
    culprit, culprit_value = _first_component(t, comps, first, th.lookback_rows)
    raw = sig.loss_raw[first]
    what = "nan" if np.isnan(raw) else ("inf" if raw > 0 else "-inf")
    changes = lower_lr_fix(run, sig, th.lr_divisor, "a third of the run's lr")
    warm = sig.warmup_iters or 0
    changes.append(
        warmup_change(
            run, sig, max(fixes.MIN_WARMUP_ITERS, fixes.WARMUP_GROWTH * warm), "reach the peak lr more slowly"
        )
    )
    if run.meta.fp16:
        changes.append(change(run, "fp16_loss_scale", "dynamic", reason="a static scale overflows"))
    fix = "then check the data and any custom head for the component named"
    last_bad = spans[-1][1]
    lr_there = sig.lr[first]
    if persistent:
        severity = "error"
        tail = (
            f"stayed non-finite to the end ({n_bad} rows)"
            if bad[-1]
            else f"{n_bad} non-finite rows, the longest run {max(b - a + 1 for a, b in spans)} rows"
        )
    else:
        severity = "warning"
        tail = f"recovered on the next row; {n_bad} such row{'s' if n_bad > 1 else ''} in all"
    who = f"; {culprit} went first ({culprit_value})" if culprit else ""
    place = row_terms(run, sig, first)
    message = (
        f"loss became {what} at {where(sig, first)}{f' ({place})' if place else ''} at lr {fmt(lr_there)} "
        f"and {tail}{who}"
    )
    headline = f"the loss went {what} at {where(sig, first)} at lr {fmt(lr_there)}"
    evidence = {
        "first_step": int(sig.step[first]),
        "rows": n_bad,
        "share": n_bad / len(bad),
        "first_component": culprit,
        "lr_at_onset": float(lr_there) if np.isfinite(lr_there) else None,
        "persistent": bool(persistent),
        "kind": "nonfinite",
    }
    return finding(
        run, RULE_ID, severity, sig, first, last_bad if persistent else first, message, evidence, fix, changes, headline
    )


def _first_component(t, comps, first, lookback):
    """The non-finite component at the first bad row; when several are, the term they share
    (named by its final-layer key) or else the one that rose most beforehand."""
    bad_now = []
    for c in comps:
        v = column(t, c)
        if not np.isfinite(v[first]) and np.isfinite(v[:first]).any():
            before = v[max(0, first - lookback) : first]
            before = before[np.isfinite(before)]
            ref = np.median(before) if len(before) else np.nan
            last = before[-1] if len(before) else np.nan
            rise = last / ref if ref and np.isfinite(ref) and ref > 0 else 1.0
            bad_now.append((rise, c, "nan" if np.isnan(v[first]) else "inf"))
    if not bad_now:
        return None, None
    if len(bad_now) > 1:
        terms = {AUX_KEY.sub(r"\1", c) for _, c, _ in bad_now}
        if len(terms) == 1:
            term = terms.pop()
            value = bad_now[0][2]
            return f"{term} (every decoder layer's)", value
    # several different terms: the one that was rising most before
    bad_now.sort(key=lambda x: -x[0])
    return bad_now[0][1], bad_now[0][2]
