"""loss-zero: a loss term that is exactly 0 — for the whole run (a head that learns nothing) or
from some row on after being > 0 (a head that stopped receiving targets).

A loss that is exactly 0 in every row while another loss trains is noted (info): a head that
never receives targets (an empty ground-truth filter, a class list that matches nothing) or one
switched off with a loss weight of 0 — on purpose, often (a frozen head). One that collapses to
exactly 0 after being clearly above it (for `zero_rows` rows) is a warning, an error for the total
loss. Logged values round to 4–5 decimals, so a loss whose earlier median is below `zero_prior`
may print as 0.0000 without collapsing. Not a non-finite loss: its own rule id, so that a CI gate
or a `--skip` on `nonfinite-loss` means what it says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import (
    AUX_KEY,
    column,
    doc,
    finding,
    fmt,
    loss_columns,
    runs_of,
    signals,
    where,
)

RULE_ID = "loss-zero"
SUMMARY = "a loss term is exactly 0 for the whole run while others train, or collapses to 0 after being > 0"


@dataclass(frozen=True)
class Thresholds:
    zero_rows: int = doc(2, "consecutive rows at exactly 0 that count as a collapse")
    zero_prior: float = doc(
        1e-3,
        "median of the earlier rows must exceed this for a 0 to be a collapse "
        "(smaller losses can round to 0.0000 in the log)",
    )
    zero_whole_rows: int = doc(2, "rows a key must be logged in for 'exactly 0 for the whole run'")
    zero_other_moves: float = doc(0.05, "another key moving by this share of its largest value is training")


def find_loss_zero(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    if len(sig.t) == 0:
        return []
    comps = loss_columns(sig.t)
    return _collapses(run, sig, ["loss"] + comps, th) + _always_zero(run, sig, comps, th)


def _always_zero(run, sig, comps, th):
    """Loss keys that are exactly 0 in every row while another loss key changes."""
    t = sig.t
    zero, training = [], []
    for c in comps:
        v = column(t, c)
        v = v[np.isfinite(v)]
        if len(v) < th.zero_whole_rows:
            continue
        if np.all(v == 0):
            zero.append(c)
        elif v.max() > 0 and (v.max() - v.min()) >= th.zero_other_moves * v.max():
            training.append(c)
    if not zero or not training:
        return []
    finals = [c for c in zero if not AUX_KEY.search(c)] or zero
    named = ", ".join(finals[:3]) + (f" and {len(zero) - min(3, len(finals))} more" if len(zero) > 3 else "")
    trains = [c for c in training if not AUX_KEY.search(c)] or training
    message = (
        f"{named} {'is' if len(zero) == 1 else 'are'} exactly 0 in all {len(t)} rows while "
        f"{trains[0]} trains: a head that never receives targets, or one switched off"
    )
    evidence = {"kind": "zero_whole_run", "components": zero, "training": trains[:5], "rows": len(t)}
    advice = (
        "if that head should learn, check that its targets reach it (ground-truth filters, class names, "
        "the dataset's annotations for it) and that its loss weight is not 0"
    )
    return [finding(run, RULE_ID, "info", sig, 0, len(t) - 1, message, evidence, advice, [])]


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
        if v[np.argmax(finite)] == 0:
            continue  # zero from the start: a frozen/unused head, not a collapse
        zero = finite & (v == 0)
        for a, b in runs_of(zero):
            if b - a + 1 < th.zero_rows:
                continue
            prior = v[:a][np.isfinite(v[:a])]
            if not len(prior) or np.median(prior[-20:]) <= th.zero_prior:
                continue
            severity = "error" if c == "loss" else "warning"
            message = (
                f"{c} collapsed to 0 at {where(sig, a)} after being {fmt(np.median(prior[-20:]))} "
                f"and stayed 0 for {b - a + 1} rows"
            )
            evidence = {"component": c, "before": float(np.median(prior[-20:])), "rows": int(b - a + 1), "kind": "zero"}
            advice = (
                "check that the head still receives targets (empty ground truth, a filter that drops "
                "every box) and that its weight was not zeroed"
            )
            out.append(
                finding(
                    run,
                    RULE_ID,
                    severity,
                    sig,
                    a,
                    b,
                    message,
                    evidence,
                    advice,
                    [],
                    f"{c} collapsed to exactly 0 at {where(sig, a)}",
                )
            )
            break
    return out
