"""Thin a curve for drawing only: statistics are always computed on every row.

Min/max per bucket keeps every spike visible (a plain stride would hide the one bad
interval a person is looking for) while cutting 50k points to a few thousand.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_POINTS = 2000


def minmax_indices(y, max_points: int = DEFAULT_MAX_POINTS):
    """Sorted indices of the points to draw: all of them when there are few, else the
    first, the last, and each bucket's minimum and maximum (non-finite points, which
    the caller draws separately, never win a bucket)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if max_points is None or n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 2)
    size = -(-n // buckets)  # ceil
    pad = buckets * size - n
    lo = np.where(np.isfinite(y), y, np.inf)
    hi = np.where(np.isfinite(y), y, -np.inf)
    lo = np.concatenate([lo, np.full(pad, np.inf)]).reshape(buckets, size)
    hi = np.concatenate([hi, np.full(pad, -np.inf)]).reshape(buckets, size)
    base = np.arange(buckets) * size
    keep = np.concatenate([base + lo.argmin(axis=1), base + hi.argmax(axis=1), [0, n - 1]])
    keep = keep[keep < n]
    return np.unique(keep)


def thin(x, y, max_points: int = DEFAULT_MAX_POINTS):
    """(x, y) reduced with `minmax_indices`."""
    idx = minmax_indices(y, max_points)
    return np.asarray(x)[idx], np.asarray(y)[idx]
