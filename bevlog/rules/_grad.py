"""grad_norm facts the grad rules share: the log's rounding step and a clip that fits the run.

A grad_norm is logged with a fixed number of decimals (4 in mmcv text, 5 in .log.json), so a
run whose gradients are ~1e-4 logs a handful of rounding steps: 0.0001 → 0.0006 is "×6" in
the log and noise in the run. Ratios are only read above a floor of `MIN_QUANTA` rounding
steps. The clip the recipes use (35, the mmdet3d DETR-family configs) is only suggested
when the run's gradients reach that scale; a clip far above every value the run logged
would clip nothing.
"""

from __future__ import annotations

import numpy as np

CLIP_RECIPE = 35.0  # grad_clip max_norm of the DETR3D / PETR / StreamPETR configs
MIN_QUANTA = 5  # a baseline of fewer rounding steps than this is off by over 10% from rounding alone
CLIP_OF_MEDIAN = 2.0  # a fitted clip: this × the run's median grad_norm (leaves typical steps alone)
CLIP_REACH = 3.0  # the recipe's clip is fine while it is at most this × the largest logged value


def quantum(values: np.ndarray) -> float:
    """The rounding step of logged values (1e-4 for 4 decimals), 0 when they are not rounded."""
    v = values[np.isfinite(values)]
    if not len(v):
        return 0.0
    for decimals in range(9):
        scaled = v * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 10.0**-decimals if decimals else 1.0
    return 0.0


def suggested_clip(values: np.ndarray) -> float | None:
    """The grad_clip max_norm to suggest for a run that logged these grad_norms."""
    v = values[np.isfinite(values) & (values > 0)]
    if not len(v):
        return CLIP_RECIPE
    if CLIP_RECIPE <= CLIP_REACH * float(v.max()):
        return CLIP_RECIPE
    return float(f"{CLIP_OF_MEDIAN * float(np.median(v)):.2g}")
