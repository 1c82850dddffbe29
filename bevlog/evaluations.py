"""The run's headline evaluation metric as a series, and whether the run learns well.

Rules that judge the lr (lr-batch) or explain a loss drop (lr-drop) ask the evaluations first:
a metric is what the training is for, the loss is only its proxy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# a run "learns well" when its metric rose by at least this fraction of its best value from the
# first evaluation and ends within NEAR_BEST of its best (issue 11: "rises and ends near its best")
LEARN_RISE = 0.10
NEAR_BEST = 0.10
# KITTI logs carry no mAP/NDS: their overall moderate AP is the headline (mmdet3d's KITTI metric)
KITTI_HEADLINES = (r"Overall_3D_AP40_moderate$", r"Overall_3D_AP11_moderate$", r"Overall_BEV_AP40_moderate$")


@dataclass(frozen=True)
class MetricSeries:
    name: str
    step: np.ndarray  # global iteration of each evaluation (NaN when unknown)
    epoch: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.value)

    @property
    def best(self) -> float:
        return float(np.max(self.value))

    def learns_well(self) -> bool:
        """Rises from the first evaluation and ends within NEAR_BEST of its best."""
        if len(self) < 2 or not self.best > 0:
            return False
        rose = self.best - self.value[0] >= LEARN_RISE * self.best
        return bool(rose and self.value[-1] >= (1 - NEAR_BEST) * self.best)


def headline_series(run) -> MetricSeries | None:
    """The headline metric (NDS, mAP …; KITTI overall moderate AP) per evaluation, in order."""
    import pandas as pd

    from bevlog.rules._common import headline_metric

    ev = run.evals
    if ev is None or len(ev) == 0:
        return None
    name = headline_metric(ev)
    if name is None:
        names = [m for m in ev["metric"].unique() if isinstance(m, str)]
        for pattern in KITTI_HEADLINES:
            hits = sorted(m for m in names if re.search(pattern, m))
            if hits:
                name = hits[0]
                break
    if name is None:
        return None
    m = ev[ev["metric"] == name]
    value = pd.to_numeric(m["value"], errors="coerce").to_numpy(dtype=float)
    step = pd.to_numeric(m["step"], errors="coerce").to_numpy(dtype=float)
    epoch = pd.to_numeric(m["epoch"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(value)
    step, epoch, value = step[keep], epoch[keep], value[keep]
    order = np.argsort(np.where(np.isfinite(step), step, epoch), kind="stable")
    return MetricSeries(name, step[order], epoch[order], value[order]) if len(value) else None


def learns_well(run) -> bool:
    series = headline_series(run)
    return bool(series is not None and series.learns_well())
