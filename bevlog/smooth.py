"""Smoothing: TensorBoard's debiased EMA for display, a centred rolling median for statistics.

Non-finite points (nan/inf logged when one iteration of an interval overflowed) are kept
out of both: they neither poison the average nor count as samples. They come back as
NaN at their own positions so a curve shows a gap, never an invented value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_WEIGHT = 0.6
DEFAULT_MEDIAN_WINDOW = 9  # rows; a row is already a mean over the logging interval


def ema(values, weight: float = DEFAULT_WEIGHT):
    """TensorBoard's smoothing: s_t = Σ w^i v_{t-i} / Σ w^i over the finite points so far.

    Equal to `Series.ewm(alpha=1 - weight, adjust=True).mean()` on the finite points.
    weight 0 returns the values unchanged (non-finite as NaN). Returns a float ndarray.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), not {weight}")
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    if weight == 0.0:
        out[finite] = values[finite]
        return out
    kept = values[finite]
    if len(kept):
        out[finite] = pd.Series(kept).ewm(alpha=1.0 - weight, adjust=True).mean().to_numpy()
    return out


def rolling_median(values, window: int = DEFAULT_MEDIAN_WINDOW):
    """Centred rolling median over `window` finite neighbours (fewer at the ends)."""
    if window < 1:
        raise ValueError(f"median window must be ≥ 1, not {window}")
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    out = np.full(values.shape, np.nan)
    kept = values[finite]
    if len(kept):
        out[finite] = pd.Series(kept).rolling(window, center=True, min_periods=1).median().to_numpy()
    return out


def residual_noise(values, window: int = DEFAULT_MEDIAN_WINDOW) -> float:
    """Robust spread of the points around their centred rolling median (1.4826 × MAD).

    The trend is removed by the median, so this measures only the row-to-row scatter;
    NaN when fewer than 3 finite points remain.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if finite.sum() < 3:
        return float("nan")
    kept = values[finite]
    residual = kept - rolling_median(kept, window)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))
