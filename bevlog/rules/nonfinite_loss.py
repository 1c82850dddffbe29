"""nonfinite-loss: the loss (or a component) became nan/inf, or collapsed to 0 after being > 0.

A logged row is a mean over the logging interval, so one bad iteration makes the row nan/inf.
A run that recovers on the next rows gets a warning; one that stays non-finite is broken.
The first component to go bad is named: at the first bad row, the non-finite component
that had risen most over its recent median. A loss that is 0 from the very first row is a
frozen or unused head (e.g. a detection head switched off while another head trains), not
a collapse, and is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import (AUX_KEY, column, doc, finding, fmt, loss_columns, lower_lr_fix,
                                  nonfinite_rows, runs_of, signals, where)

RULE_ID = "nonfinite-loss"
SUMMARY = "loss or a loss component becomes nan/inf, or collapses to 0 after being > 0"


@dataclass(frozen=True)
class Thresholds:
    persistent_rows: int = doc(3, "consecutive non-finite rows (or the last row) that make it an error")
    zero_rows: int = doc(2, "consecutive rows at exactly 0 that count as a collapse")
    zero_prior: float = doc(1e-3, "median of the earlier rows must exceed this for a 0 to be a collapse "
                                  "(smaller losses can round to 0.0000 in the log)")
    lr_divisor: float = doc(3.0, "suggested lr = base lr / this (the table's 'lower lr 2-5x')")
    lookback_rows: int = doc(10, "rows before the first bad row used to judge which component rose first")


def find_nonfinite_loss(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    t = sig.t
    if len(t) == 0:
        return []
    out = []
    comps = loss_columns(t)
    if "loss" in t:
        bad = nonfinite_rows(sig, sig.loss_raw)
    else:  # no total logged: any component going non-finite
        bad = np.zeros(len(t), dtype=bool)
        for c in comps:
            v = column(t, c)
            seen = np.maximum.accumulate(np.isfinite(v))
            bad |= seen & nonfinite_rows(sig, v)
    if bad.any():
        out.append(_nonfinite(run, sig, bad, comps, th))
    out.extend(_collapses(run, sig, ["loss"] + comps, th))
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
    changes, fix_bits = lower_lr_fix(run.meta, sig, th.lr_divisor)
    warm = sig.warmup_iters or 0
    changes.append({"param": "warmup_iters", "from": warm or None, "to": max(500, 2 * warm)})
    fix_bits.append(f"warmup ≥ {max(500, 2 * warm)} iters")
    if run.meta.get("fp16"):
        changes.append({"param": "loss_scale", "to": "dynamic"})
        fix_bits.append("dynamic loss scale")
    fix = "; ".join(fix_bits) + "; then check the data and any custom head for the component named"
    last_bad = spans[-1][1]
    lr_there = sig.lr[first]
    if persistent:
        severity = "error"
        tail = (f"stayed non-finite to the end ({n_bad} rows)" if bad[-1]
                else f"{n_bad} non-finite rows, the longest run {max(b - a + 1 for a, b in spans)} rows")
    else:
        severity = "warning"
        tail = f"recovered on the next row; {n_bad} such row{'s' if n_bad > 1 else ''} in all"
    who = f"; {culprit} went first ({culprit_value})" if culprit else ""
    message = (f"loss became {what} at {where(sig, first)} (step {int(sig.step[first]):,}, "
               f"lr {fmt(lr_there)}) and {tail}{who}")
    evidence = {"first_step": int(sig.step[first]), "rows": n_bad, "share": n_bad / len(bad),
                "first_component": culprit, "lr_at_onset": float(lr_there) if np.isfinite(lr_there) else None,
                "persistent": bool(persistent), "kind": "nonfinite"}
    return finding(run, RULE_ID, severity, sig, first, last_bad if persistent else first,
                   message, evidence, fix, changes)


def _first_component(t, comps, first, lookback):
    """The non-finite component at the first bad row; when several are, the term they share
    (named by its final-layer key) or else the one that rose most beforehand."""
    bad_now = []
    for c in comps:
        v = column(t, c)
        if not np.isfinite(v[first]) and np.isfinite(v[:first]).any():
            before = v[max(0, first - lookback):first]
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


def _collapses(run, sig, cols, th):
    out = []
    t = sig.t
    for c in cols:
        if c not in t:
            continue
        v = column(t, c)
        finite = np.isfinite(v)
        if not finite.any():
            continue
        first_val = v[np.argmax(finite)]
        if first_val == 0:
            continue  # zero from the start: a frozen/unused head, not a collapse
        zero = finite & (v == 0)
        for a, b in runs_of(zero):
            if b - a + 1 < th.zero_rows:
                continue
            prior = v[:a][np.isfinite(v[:a])]
            if not len(prior) or np.median(prior[-20:]) <= th.zero_prior:
                continue
            total = c == "loss"
            severity = "error" if total else "warning"
            message = (f"{c} collapsed to 0 at {where(sig, a)} after being {fmt(np.median(prior[-20:]))} "
                       f"and stayed 0 for {b - a + 1} rows")
            evidence = {"component": c, "before": float(np.median(prior[-20:])), "rows": int(b - a + 1),
                        "kind": "zero"}
            fix = ("check that the head still receives targets (empty ground truth, a filter that drops "
                   "every box) and that its weight was not zeroed")
            out.append(finding(run, RULE_ID, severity, sig, a, b, message, evidence, fix, []))
            break
    return out
