"""Bounds on what a log can make the parsers hold, applied before anything is sized by it.

A log is data written by someone else: `"iter": 1e309` is infinity, `interval=1<400
zeros>` does not fit a float, and either one used to take a whole batch of runs down with
an OverflowError. Counts (epochs, iterations, steps, config integers) beyond MAX_COUNT
are not what any training logged; the parsers treat them as unreadable fields.

Keys: a run's train rows are one matrix, rows x keys. A log whose rows each log new keys
would make it quadratic in its size (a 2.3 MB json: 9 GB), so a run keeps its first
MAX_KEYS keys in the order they are first logged; the values of any later key are not
read, counted in `skipped` under KEYS_PAST_BOUND (real logs log up to ~50 train keys and
~140 keys with their evaluations; a DETR with 6 decoder layers, denoising and encoder
losses ~70). The keys that place a JSON row (PLACING_KEYS) are always read. Every engine applies the bound
before it allocates a matrix, and so does every place that unites the keys of parts
(`parsers.stack.stack_values`, `parsers.assemble`).
"""

from __future__ import annotations

import numpy as np

MAX_COUNT = 10**15
OUT_OF_RANGE = "train row with an out-of-range epoch/iter/step"
MAX_KEYS = 256
KEYS_PAST_BOUND = f"values of keys past the first {MAX_KEYS} of a run (not read)"
PLACING_KEYS = ("mode", "epoch", "iter", "step")  # a JSON row's place and kind: always read


def counts_ok(values):
    """Bool array: each float is NaN (not logged) or a finite count within ±MAX_COUNT."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isnan(v) | (np.abs(v) <= MAX_COUNT)


def kept_keys(names) -> list[str]:
    """The keys a run keeps of `names` (in first-seen order): every placing key, and the first
    MAX_KEYS of the others."""
    names = list(names)
    if len(names) <= MAX_KEYS:
        return names
    out, others = [], 0
    for k in names:
        if k in PLACING_KEYS:
            out.append(k)
        elif others < MAX_KEYS:
            out.append(k)
            others += 1
    return out
