"""Bounds on numbers read from a log, applied before anything converts or sizes with them.

A log is data written by someone else: `"iter": 1e309` is infinity, `interval=1<400
zeros>` does not fit a float, and either one used to take a whole batch of runs down with
an OverflowError. Counts (epochs, iterations, steps, config integers) beyond MAX_COUNT
are not what any training logged; the parsers treat them as unreadable fields.
"""

from __future__ import annotations

import numpy as np

MAX_COUNT = 10**15
OUT_OF_RANGE = "train row with an out-of-range epoch/iter/step"


def counts_ok(values):
    """Bool array: each float is NaN (not logged) or a finite count within ±MAX_COUNT."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isnan(v) | (np.abs(v) <= MAX_COUNT)
