"""Per-decoder-layer views of `Run.layers` shared by the layer-* rules.

`layers` is long form: run, step, epoch_f, group ('' / 'dn' / 'enc' / 'frame_0' …), term
('cls', 'bbox' …), layer (0 … L-1, the final layer is L-1), value. The rules judge the
last stretch of training (after warmup), where layers have had time to specialise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bevlog.rules._common import progress, run_cache, signals
from parsers import STATS_GROUP, empty_layers, layers_part, layers_wide

CACHE_KEY = "bevlog.layer_window"


def late_layers(run, frac: float = 0.2, min_rows: int = 5) -> pd.DataFrame:
    """Rows of `run.layers` in the last `frac` of the post-warmup steps (finite values only)."""
    key = (CACHE_KEY, frac)
    cache = run_cache(run)
    if key in cache:
        return cache[key]

    # only the window's rows are built (not the whole long frame: about the log's size)
    L = layers_part(run, since_step=_window_start(run, frac, min_rows))
    if L is not None and len(L):
        L = L[L["group"] != STATS_GROUP]  # attention statistics are not losses (attention-collapse reads them)
    out = empty_layers() if L is None else L
    if L is not None and len(L):
        vals = pd.to_numeric(L["value"], errors="coerce")
        out = L[np.isfinite(vals)]
    cache[key] = out
    return out


def mature(run, min_progress: float, min_rows: int = 30) -> bool:
    """Decoder layers separate as training goes on: judge them only once the log has
    `min_rows` rows after warmup and, when the plan is known, `min_progress` of it."""
    sig = signals(run)
    if len(sig.step) - sig.warmup_end_row < min_rows:
        return False
    done = progress(run, sig)
    return done is None or done >= min_progress


def layer_medians(window: pd.DataFrame) -> pd.DataFrame:
    """(group, term) × layer table of medians; only groups with ≥ 2 layers."""
    if not len(window):
        return pd.DataFrame()
    cached = window.attrs.get("bevlog.medians")
    if cached is not None:
        return cached
    table = window.groupby(["group", "term", "layer"], sort=True)["value"].median().unstack("layer")
    table = table[table.notna().sum(axis=1) >= 2]
    window.attrs["bevlog.medians"] = table
    return table


def late_series(run, frac: float = 0.2, min_rows: int = 5) -> pd.DataFrame:
    """step × (group, term, layer) table of the finite values of `late_layers(run, frac)`
    (a step logged twice: its later value), read straight from the train columns: a wide
    table is a quarter of the long window's memory, and the window is never built."""
    key = ("bevlog.layer_series", frac)
    cache = run_cache(run)
    if key not in cache:
        table = layers_wide(run, _window_start(run, frac, min_rows))
        if len(table.columns):  # attention statistics are not losses (attention-collapse reads them)
            table = table.loc[:, table.columns.get_level_values(0) != STATS_GROUP]
        cache[key] = table
    return cache[key]


def _window_start(run, frac: float, min_rows: int) -> float:
    """First step of the last `frac` of the post-warmup rows (inf when there are too few)."""
    sig = signals(run)
    steps = sig.step[sig.warmup_end_row :]
    n = max(min_rows, int(len(steps) * frac))
    return float(steps[-min(n, len(steps))]) if len(steps) >= min_rows else float("inf")


def late_group_sums(run, frac: float = 0.2) -> pd.DataFrame:
    """`group_sums` of the late window's medians, worked out once per run and window (two
    rules judge it, and a groupby costs more than the few layers in it)."""
    key = ("bevlog.group_sums", frac)
    cache = run_cache(run)
    if key not in cache:
        cache[key] = group_sums(layer_medians(late_layers(run, frac)))
    return cache[key]


def group_sums(table: pd.DataFrame) -> pd.DataFrame:
    """group × layer: the terms of each group summed (layers where every term is present)."""
    if not len(table):
        return table
    return table.groupby(level="group").sum(min_count=1).where(table.notna().groupby(level="group").all())


def is_auxiliary_group(group: str) -> bool:
    """Denoising and encoder groups are training aids, not the decoder's own output."""
    parts = str(group).replace(".", "_").split("_")
    return "dn" in parts or "enc" in parts


def describe_group(group: str) -> str:
    return f" ({group})" if group else ""
