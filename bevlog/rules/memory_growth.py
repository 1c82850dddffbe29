"""memory-growth: GPU memory that keeps growing across the run (a leak).

The logged `memory` is the peak allocated memory (mmcv: since the process started; mmengine:
since the last log). A peak rises in steps when a larger batch first arrives and then stays:
that is not a leak. A leak grows steadily: the run is cut into parts (epochs, or equal
chunks for an iteration-based run), and it fires when the median memory of the parts rose by
at least `min_growth` overall, in most consecutive parts, and still in the last third of the
run. No real log in the repository shows one (the largest growth there is +0.8%), so it
speaks at info.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bevlog.rules._common import column, doc, epoch_label, finding, signals

RULE_ID = "memory-growth"
SUMMARY = "GPU memory grows steadily across epochs (≥ 15% overall, still growing at the end)"


@dataclass(frozen=True)
class Thresholds:
    min_parts: int = doc(4, "fewest parts (epochs or chunks) for a judgement")
    chunks: int = doc(10, "parts an iteration-based run (or a run with fewer epochs) is cut into")
    min_growth: float = doc(0.15, "overall growth of the per-part median memory that counts")
    rising_share: float = doc(0.7, "share of consecutive parts that must rise")
    late_growth: float = doc(0.03, "growth over the last third of the parts that shows it has not levelled off")


def find_memory_growth(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    mem = column(sig.t, "memory")
    ok = np.isfinite(mem) & (mem > 0)
    if ok.sum() < th.min_parts * 2:
        return []
    epochs = column(sig.t, "epoch")
    levels, labels, bounds = _parts(mem, epochs, ok, th, sig.epoch_base)
    if len(levels) < th.min_parts:
        return []
    growth = levels[-1] / levels[0] - 1
    rising = float(np.mean(np.diff(levels) > 0))
    third = max(1, len(levels) // 3)
    late = levels[-1] / levels[-1 - third] - 1
    if growth < th.min_growth or rising < th.rising_share or late < th.late_growth:
        return []
    message = (
        f"GPU memory grew {growth:.0%} from {levels[0]:.0f} MB ({labels[0]}) to {levels[-1]:.0f} MB "
        f"({labels[-1]}), rising in {rising:.0%} of the steps and still {late:+.0%} over the last third: "
        f"a leak, not a peak that levelled off"
    )
    evidence = {
        "growth": growth,
        "first_mb": levels[0],
        "last_mb": levels[-1],
        "rising_share": rising,
        "late_growth": late,
        "parts": len(levels),
    }
    fix = (
        "look for tensors kept across iterations (losses accumulated without .item() / .detach(), lists of "
        "outputs, a growing cache or memory bank), and torch.cuda.empty_cache() only after finding it"
    )
    return [finding(run, RULE_ID, "info", sig, bounds[0], bounds[1], message, evidence, fix, [])]


def _parts(mem, epochs, ok, th, epoch_base=None):
    """(median memory per part, part labels, (first row, last row))."""
    rows = np.flatnonzero(ok)
    e = epochs[rows]
    if np.isfinite(e).all() and len(np.unique(e)) >= th.min_parts:
        # one grouped median per epoch, linear in rows (not a mask over every row per epoch)
        per_epoch = pd.Series(mem[rows]).groupby(e).median().sort_index()
        keys = per_epoch.index.to_numpy()
        labels = [f"epoch {epoch_label(k, epoch_base)}" for k in (keys[0], keys[-1])]
        return [float(v) for v in per_epoch.to_numpy()], labels, (int(rows[0]), int(rows[-1]))
    parts = np.array_split(rows, th.chunks)
    levels = [float(np.median(mem[p])) for p in parts if len(p)]
    return levels, ["the first tenth", "the last tenth"], (int(rows[0]), int(rows[-1]))
