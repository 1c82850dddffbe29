"""The run's headline evaluation metric: which one it is, its series, and whether it learns.

The one list of headline metrics (`HEADLINES`, most preferred first, all higher-is-better) and
the one judgement of a metric at chance live here; every rule that asks "does the model
detect?" (metric-chance, no-takeoff, lr-batch, overfitting, lr-drop, the verdict) reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# headline metrics, most preferred first; KITTI logs carry no mAP/NDS: their overall moderate AP
# is the headline (mmdet3d's KITTI metric); ultralytics names COCO's box mAP `metrics/mAP50-95(B)`
HEADLINES = (
    r"(^|/)NDS$",
    r"(^|/)nds$",
    r"(^|/)(bbox_)?mAP$",
    r"(^|/)mAP50-95\(B\)$",
    r"(^|/)map$",
    r"(^|/)AP$",
    r"Overall_3D_AP40_moderate$",
    r"Overall_3D_AP11_moderate$",
    r"Overall_BEV_AP40_moderate$",
    r"(^|/)mIoU$",
    r"(^|/)recall",
    r"(^|/)acc",
)
# detection metrics that are 0 at chance, most direct first (NDS only when no mAP is logged)
DETECTION = (r"(^|/)(bbox_)?mAP$", r"(^|/)mAP50-95\(B\)$", r"(^|/)map$", r"(^|/)AP$", r"(^|/)NDS$", r"(^|/)nds$")
# a run "learns well" when its metric rose by at least this fraction of its best value from the
# first evaluation and ends within NEAR_BEST of its best (and above chance)
LEARN_RISE = 0.10
NEAR_BEST = 0.10
# at or below these (as fractions; ×100 on a percent scale) a detection metric is at chance:
# mAP with no true positive is 0; NDS with none is 0, a handful of matches gives 0.01–0.02
CHANCE_MAP = 0.005
CHANCE_NDS = 0.05


def pick(names, patterns=HEADLINES) -> str | None:
    """The first name matching the most preferred pattern (shortest name among ties)."""
    names = [n for n in names if isinstance(n, str)]
    for pattern in patterns:
        hits = sorted(n for n in names if re.search(pattern, n))
        if hits:
            return min(hits, key=len)
    return None


def chance_level(name: str, values) -> float:
    """The value at or below which this detection metric says 'detects nothing'."""
    percent = 100.0 if len(values) and np.nanmax(values) > 1.0 else 1.0
    return (CHANCE_NDS if re.search(r"(^|/)nds$", name, re.IGNORECASE) else CHANCE_MAP) * percent


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

    @property
    def chance(self) -> float:
        return chance_level(self.name, self.value)

    def at_chance(self) -> bool:
        """At chance at every evaluation after the first (the first may come before any learning)."""
        judged = self.value[1:] if len(self) >= 2 else self.value
        return bool(len(judged) and np.all(judged <= self.chance))

    def learns_well(self) -> bool:
        """Rises from the first evaluation, ends within NEAR_BEST of its best, and is above chance."""
        if len(self) < 2 or not self.best > self.chance:
            return False
        rose = self.best - self.value[0] >= LEARN_RISE * self.best
        return bool(rose and self.value[-1] >= (1 - NEAR_BEST) * self.best)

    def labels(self) -> list[str]:
        return [
            f"epoch {int(e)}" if np.isfinite(e) else (f"iter {int(s):,}" if np.isfinite(s) else "?")
            for e, s in zip(self.epoch, self.step)
        ]


def series(run, name: str) -> MetricSeries | None:
    """One metric's finite evaluations, in time order (never de-duplicated: evaluations of one
    epoch from two launches are two evaluations)."""
    ev = run.evals
    if ev is None or len(ev) == 0:
        return None
    m = ev[ev["metric"] == name]
    value = pd.to_numeric(m["value"], errors="coerce").to_numpy(dtype=float)
    step = pd.to_numeric(m["step"], errors="coerce").to_numpy(dtype=float)
    epoch = pd.to_numeric(m["epoch"], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(value)
    step, epoch, value = step[keep], epoch[keep], value[keep]
    order = np.argsort(np.where(np.isfinite(step), step, epoch), kind="stable")
    return MetricSeries(name, step[order], epoch[order], value[order]) if len(value) else None


def metric_names(run) -> list[str]:
    ev = run.evals
    if ev is None or len(ev) == 0:
        return []
    return [m for m in ev["metric"].unique() if isinstance(m, str)]


def headline_series(run) -> MetricSeries | None:
    """The headline metric (NDS, mAP …; KITTI overall moderate AP) per evaluation, in order."""
    name = pick(metric_names(run))
    return series(run, name) if name else None


def detection_series(run) -> MetricSeries | None:
    """The detection metric judged for 'detects nothing' (mAP first, NDS only without one)."""
    name = pick(metric_names(run), DETECTION)
    return series(run, name) if name else None


def learns_well(run) -> bool:
    s = headline_series(run)
    return bool(s is not None and s.learns_well())
