"""dataloader-bound: a large share of every iteration is spent waiting for data.

mmcv/mmengine log `time` (the whole iteration, data loading included) and `data_time` (the
part spent waiting for the next batch). When the median data_time is a large share of the
median time, the GPU idles for that share: more data-loader workers, faster storage or
lighter CPU augmentation buy speed without touching training. The first row of each
epoch (the workers starting up) weighs nothing in a median. Thresholds were judged on
every real log in the repository: shares there run from 1% to 60%. It speaks at info: it
costs time, not accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.rules._common import column, doc, finding, signals

RULE_ID = "dataloader-bound"
SUMMARY = "data_time is a large share (≥ 30%) of the iteration time: the GPU waits for data"


@dataclass(frozen=True)
class Thresholds:
    share: float = doc(0.30, "median data_time / median time at or above this is dataloader-bound")
    min_rows: int = doc(10, "fewest rows with both times for a judgement")


def find_dataloader_bound(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    time, data = column(sig.t, "time"), column(sig.t, "data_time")
    ok = np.isfinite(time) & np.isfinite(data) & (time > 0) & (data >= 0)
    if ok.sum() < th.min_rows:
        return []
    t_med, d_med = float(np.median(time[ok])), float(np.median(data[ok]))
    share = d_med / t_med
    if share < th.share:
        return []
    rows = np.flatnonzero(ok)
    message = (
        f"waiting for data takes {share:.0%} of each iteration (median data_time {d_med:.3g} s of "
        f"{t_med:.3g} s): the GPU idles that long every step"
    )
    evidence = {"share": share, "data_time_s": d_med, "time_s": t_med, "rows": int(ok.sum())}
    cfg = run.meta.config if isinstance(run.meta.config, dict) else {}
    workers = _workers(cfg)
    more = f" (workers_per_gpu is {workers})" if workers is not None else ""
    fix = (
        f"raise the data loader's workers{more}, use persistent_workers / pin_memory, move heavy "
        f"augmentation off the CPU or cache decoded images; training itself is unaffected"
    )
    return [finding(run, RULE_ID, "info", sig, int(rows[0]), int(rows[-1]), message, evidence, fix, [])]


def _workers(cfg: dict):
    data = cfg.get("data")
    if isinstance(data, dict) and isinstance(data.get("workers_per_gpu"), int):
        return data["workers_per_gpu"]
    loader = cfg.get("train_dataloader")
    if isinstance(loader, dict) and isinstance(loader.get("num_workers"), int):
        return loader["num_workers"]
    return None
