"""Per-decoder-layer views of `Run.layers` shared by the layer-* rules.

`layers` is long form: run, step, epoch_f, group ('' / 'dn' / 'enc' / 'frame_0' …), term
('cls', 'bbox' …), layer (0 … L-1, the final layer is L-1), value. The rules judge the
last stretch of training (after warmup), where layers have had time to specialise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bevlog.rules._common import progress, signals
from parsers.layers import STATS_GROUP

CACHE_KEY = "bevlog.layer_window"


def late_layers(run, frac: float = 0.2, min_rows: int = 5) -> pd.DataFrame:
    """Rows of `run.layers` in the last `frac` of the post-warmup steps (finite values only)."""
    key = (CACHE_KEY, frac)
    if key in run.extra:
        return run.extra[key]
    sig = signals(run)
    L = run.layers
    if L is not None and len(L):
        L = L[L["group"] != STATS_GROUP]   # attention statistics are not losses (attention-collapse reads them)
    out = L.iloc[0:0] if L is None else L
    if L is not None and len(L) and len(sig.step) > sig.warmup_end_row:
        steps = sig.step[sig.warmup_end_row:]
        n = max(min_rows, int(len(steps) * frac))
        if len(steps) >= min_rows:
            cut = steps[-min(n, len(steps))]
            vals = pd.to_numeric(L["value"], errors="coerce")
            out = L[(L["step"] >= cut) & np.isfinite(vals)]
        else:
            out = L.iloc[0:0]
    run.extra[key] = out
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


def layer_series(window: pd.DataFrame) -> pd.DataFrame:
    """step × (group, term, layer) table of values, steps in order (for per-layer noise)."""
    cached = window.attrs.get("bevlog.series")
    if cached is None:
        cached = window.pivot_table(index="step", columns=["group", "term", "layer"], values="value",
                                    aggfunc="last", sort=True)
        window.attrs["bevlog.series"] = cached
    return cached


def group_sums(table: pd.DataFrame) -> pd.DataFrame:
    """group × layer: the terms of each group summed (layers where every term is present)."""
    if not len(table):
        return table
    return table.groupby(level="group").sum(min_count=1).where(
        table.notna().groupby(level="group").all())


def is_auxiliary_group(group: str) -> bool:
    """Denoising and encoder groups are training aids, not the decoder's own output."""
    parts = str(group).replace(".", "_").split("_")
    return "dn" in parts or "enc" in parts


def describe_group(group: str) -> str:
    return f" ({group})" if group else ""
