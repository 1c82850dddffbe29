"""lr-invalid: an lr no optimizer should run at — negative, zero for the whole run, or absurdly large.

A negative lr walks up the loss; an lr of 0 in every row trains nothing; an lr above `max_lr`
(no detector recipe comes near: SGD recipes sit at 0.01–0.02, AdamW at 1e-4–1e-3) is a typo or a
damaged log (`1e308`). Judged on the config's lr and on the logged lr, whichever says it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.findings import is_number
from bevlog.rules._common import doc, finding, fmt, signals, where

RULE_ID = "lr-invalid"
SUMMARY = "the lr is negative, 0 in every row, or absurdly large (> 10)"


@dataclass(frozen=True)
class Thresholds:
    max_lr: float = doc(10.0, "an lr above this is no training lr (recipes sit at 1e-4 … 0.02)")


def find_lr_invalid(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    lr = sig.lr
    finite = np.isfinite(lr)
    config = run.meta.lr
    problems = []
    if is_number(config) and (config < 0 or config > th.max_lr):
        problems.append((None, f"the config's lr is {fmt(config)}"))
    neg = np.flatnonzero(finite & (lr < 0))
    big = np.flatnonzero((finite & (lr > th.max_lr)) | np.isposinf(lr))
    if len(neg):
        problems.append(
            (
                int(neg[0]),
                (f"the logged lr is negative ({fmt(lr[neg[0]])} at {where(sig, int(neg[0]))}, {len(neg)} rows)"),
            )
        )
    if len(big):
        problems.append(
            (int(big[0]), (f"the logged lr is {fmt(lr[big[0]])} at {where(sig, int(big[0]))} ({len(big)} rows)"))
        )
    if finite.sum() >= 2 and np.all(lr[finite] == 0):
        problems.append((0, f"the logged lr is 0 in all {int(finite.sum())} rows"))
    if not problems:
        return []
    row = next((r for r, _ in problems if r is not None), None)
    message = "; ".join(p for _, p in problems) + ": no optimizer trains at that lr"
    evidence = {
        "kind": "lr_value",
        "config_lr": config if is_number(config) else None,
        "negative_rows": len(neg),
        "huge_rows": len(big),
    }
    return [
        finding(
            run,
            RULE_ID,
            "error",
            sig,
            row,
            row,
            message,
            evidence,
            "check the lr in the config (a sign, an exponent) and the scheduler that sets it",
            [],
            f"{problems[0][1]}: no optimizer trains at that lr",
        )
    ]
