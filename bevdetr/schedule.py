"""Learning-rate schedules as mmcv's LrUpdaterHook computes them.

Linear warmup (mmcv `warmup='linear'`): for global iteration i < warmup_iters the lr is
regular_lr * (1 - (1 - i / warmup_iters) * (1 - warmup_ratio)), i.e. it starts at
warmup_ratio * lr and reaches lr at warmup_iters.
`step`: lr * gamma ** (number of milestones <= the current 0-based epoch), by epoch.
`cosine`: CosineAnnealing by iteration, from lr down to lr * min_lr_ratio.
`cyclic`: mmcv's CyclicLrUpdaterHook with one cycle, by iteration: the lr climbs (cosine
annealing) from lr to lr * target_ratio over the first step_ratio_up of the run, then anneals
down to lr * 1e-4 — the schedule that raises the lr after a model has taken off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CYCLIC_END_RATIO = 1e-4  # mmcv's default target_ratio[1]: where the cycle ends


def _annealing_cos(start: float, end: float, factor: float) -> float:
    """mmcv's annealing_cos: from start (factor 0) to end (factor 1) along half a cosine."""
    return end + 0.5 * (start - end) * (math.cos(math.pi * factor) + 1)


@dataclass(frozen=True)
class Schedule:
    base_lr: float
    policy: str = "step"  # step | cosine | cyclic
    max_iters: int = 1
    steps: tuple[int, ...] = ()  # epochs (step policy)
    gamma: float = 0.1
    min_lr_ratio: float = 1e-3  # cosine
    warmup_iters: int = 0
    warmup_ratio: float = 1.0 / 3
    target_ratio: float = 10.0  # cyclic: the peak is base_lr x this (mmcv target_ratio[0])
    step_ratio_up: float = 0.4  # cyclic: the fraction of the run spent climbing

    def regular_lr(self, it: int, epoch: int) -> float:
        """lr without warmup at global iteration `it` (0-based) in 0-based `epoch`."""
        if self.policy == "step":
            return self.base_lr * self.gamma ** sum(1 for s in self.steps if epoch >= s)
        if self.policy == "cosine":
            target = self.base_lr * self.min_lr_ratio
            frac = min(it / max(self.max_iters, 1), 1.0)
            return target + 0.5 * (self.base_lr - target) * (1 + math.cos(math.pi * frac))
        if self.policy == "cyclic":
            up = int(self.step_ratio_up * self.max_iters)
            it = it % max(self.max_iters, 1)
            if it < up:
                return _annealing_cos(self.base_lr, self.base_lr * self.target_ratio, it / up)
            end = self.base_lr * CYCLIC_END_RATIO
            return _annealing_cos(self.base_lr * self.target_ratio, end, (it - up) / max(self.max_iters - up, 1))
        raise ValueError(f"unknown lr policy {self.policy!r}")

    def lr(self, it: int, epoch: int) -> float:
        regular = self.regular_lr(it, epoch)
        if it < self.warmup_iters:
            k = (1 - it / self.warmup_iters) * (1 - self.warmup_ratio)
            return regular * (1 - k)
        return regular

    def mmcv_config(self) -> dict:
        """The lr_config dict mmcv would have held for this schedule (for the Config dump)."""
        cfg = {"policy": {"step": "step", "cosine": "CosineAnnealing", "cyclic": "cyclic"}[self.policy]}
        if self.warmup_iters:
            cfg.update(warmup="linear", warmup_iters=self.warmup_iters, warmup_ratio=self.warmup_ratio)
        if self.policy == "step":
            cfg.update(step=list(self.steps), gamma=self.gamma)
        elif self.policy == "cyclic":
            cfg.update(
                by_epoch=False,
                target_ratio=(self.target_ratio, CYCLIC_END_RATIO),
                cyclic_times=1,
                step_ratio_up=self.step_ratio_up,
            )
        else:
            cfg.update(min_lr_ratio=self.min_lr_ratio, by_epoch=False)
        return cfg
