"""Step positions: where each train row of a launch lies.

- `launch_positions(seg)`: a launch's own increasing positions, before the run is
  assembled (no iters per epoch from other launches): global steps when the log gives or
  implies them, else (epoch, iter) folded into one number for json rows without `[i/n]`.
  `parsers.identity` compares them across launches (does one continue another?).
- `row_positions(seg, runner, ipe)`: the run's position columns of a launch's rows, once
  the run's runner and iters per epoch are known (`parsers.assemble`):
  `step` is the global iteration: iter runners log it; epoch runners get
  `(epoch-1) * iters_per_epoch + iter`; mmengine json states it. A row that sums up a whole
  epoch (`Segment.epoch_rows`: DETR's log.txt) lies at its epoch's end, and with no
  iterations per epoch known its `step` counts epochs. Iter runners: `iter` is
  global, `epoch` = floor((step-1)/ipe)+1 and `epoch_f` = step/ipe when iters per epoch are
  known, NaN otherwise.
- `match_keys(seg, runner)`: one key per row to match a text log's rows with its json twin's.
- `median_step(x)`: the median positive difference of positions (a logging interval).
"""

from __future__ import annotations

import numpy as np

from parsers.launches import EPOCH_SCALE
from parsers.segment import Segment


def median_step(x) -> float | None:
    d = np.diff(np.asarray(x, float))
    d = d[d > 0]
    return float(np.median(d)) if len(d) else None


def launch_positions(seg: Segment):
    """("step" | "epoch-iter", increasing position per row), or None when the rows cannot
    be placed (see the module docstring)."""
    step, epoch, it, per = seg.step, seg.epoch, seg.iter, seg.n
    if len(step) == seg.rows and not np.isnan(step).any():
        return "step", step
    if len(it) != seg.rows or np.isnan(it).any():
        return None
    if seg.runner == "iter" or len(epoch) != seg.rows or np.isnan(epoch).all():
        return "step", it
    if len(per) == seg.rows and not np.isnan(per).any():
        return "step", (epoch - 1) * per + it
    return "epoch-iter", epoch * EPOCH_SCALE + it


def last_step(seg: Segment) -> float | None:
    """The launch's last global step, when its positions are steps."""
    pos = launch_positions(seg) if seg.rows else None
    return float(pos[1][-1]) if pos is not None and pos[0] == "step" else None


def row_positions(seg: Segment, runner: str | None, ipe: int | None) -> dict[str, np.ndarray]:
    """{epoch, iter, iters_per_epoch, step, epoch_f} per row of `seg` in a run of `runner`
    with `ipe` iters per epoch (see the module docstring)."""
    n = seg.rows

    def col(a):
        return a if len(a) == n else np.full(n, np.nan)

    epoch, it, rown, stated = col(seg.epoch), col(seg.iter), col(seg.n), col(seg.step)
    if runner == "iter":
        step = np.where(np.isnan(stated), it, stated)
        per = np.full(n, float(ipe) if ipe else np.nan)
        return {
            "epoch": np.floor((step - 1) / per) + 1,
            "iter": step,
            "iters_per_epoch": per,
            "step": step,
            "epoch_f": step / per,
        }
    if seg.epoch_rows:
        # a row sums up its whole epoch: it lies at the epoch's end; without iterations per
        # epoch the log gives none, and `step` counts epochs (Meta.step_unit)
        per = np.full(n, float(ipe) if ipe else np.nan)
        return {
            "epoch": epoch,
            "iter": per,
            "iters_per_epoch": per,
            "step": epoch * per if ipe else epoch.copy(),
            "epoch_f": epoch.copy(),
        }
    per = rown.copy()
    if ipe:
        per[np.isnan(per)] = ipe
    computed = np.where(epoch == 1, it, (epoch - 1) * per + it)  # epoch 1 needs no ipe
    step = np.where(np.isnan(stated), computed, stated)
    iter_col = it
    if seg.library == "mmengine" and seg.format.endswith("json") and ipe:
        # mmengine json `iter` is the global iteration: within-epoch iter from step.
        iter_col = step - (epoch - 1) * per
    return {
        "epoch": epoch,
        "iter": iter_col,
        "iters_per_epoch": per,
        "step": step,
        "epoch_f": epoch - 1 + iter_col / per,
    }


def match_keys(seg: Segment, runner: str) -> np.ndarray:
    """One number per row that a text log and its json twin share for the same row:
    the global step for iter runners, else (epoch, iter) folded."""
    if seg.rows == 0:
        return np.zeros(0)
    if runner == "iter":
        if not np.all(np.isnan(seg.step)):
            return seg.step.astype(float)
        return seg.iter.astype(float)
    return seg.epoch.astype(float) * EPOCH_SCALE + seg.iter.astype(float)
