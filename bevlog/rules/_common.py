"""Signals every rule reads, computed once per Run and cached in `run.extra`.

A logged row of an mmcv/mmengine log is already a mean over ~50 iterations, so the rules
work on rows: robust statistics (rolling medians, medians of windows) rather than
per-iteration thresholds. Everything here is a plain function of the Run's frames.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from bevlog.findings import Finding, Fix
from bevlog.smooth import rolling_median  # noqa: F401 - the project's one smoother, used by the rules

CACHE_KEY = "bevlog.signals"
AUX_KEY = re.compile(r"(^|[._/])d\d+\.")  # mmdet intermediate-layer prefix `dK.`


def doc(default, text: str):
    """A named threshold with its documentation (read by `bevlog diagnose --explain`)."""
    from dataclasses import field

    return field(default=default, metadata={"doc": text})


def describe_thresholds(th) -> list[tuple[str, Any, str]]:
    return [(f.name, getattr(th, f.name), f.metadata.get("doc", "")) for f in fields(th)]


@dataclass
class Signals:
    """Derived facts about one run, shared by the rules."""

    t: pd.DataFrame  # train rows sorted by step, one per step (later row wins), index 0..n-1
    step: np.ndarray
    epoch_f: np.ndarray
    loss: np.ndarray  # float, NaN where the logged loss was nan/inf or missing
    loss_raw: np.ndarray  # as logged (inf kept)
    lr: np.ndarray
    warmup_end_row: int  # first row after warmup (0 when there is none)
    warmup_iters: int | None  # length of the warmup in iterations, None when there is none
    window: int  # smoothing window in rows (odd)
    interval: float  # median steps between logged rows
    iter_runner: bool
    last_truncated: bool  # the log's last line was cut mid-write: its NaNs mean "missing"


def signals(run) -> Signals:
    cached = run.extra.get(CACHE_KEY) if isinstance(run.extra, dict) else None
    if cached is not None:
        return cached
    sig = _compute(run)
    if isinstance(run.extra, dict):
        run.extra[CACHE_KEY] = sig
    return sig


def _compute(run) -> Signals:
    t = run.train
    if t is None or len(t) == 0 or "step" not in t:
        t = pd.DataFrame({"step": pd.Series(dtype=float)})
    # time order as the parser stitched it (not sorted: a log whose steps go backwards stays
    # readable in the order it was written); a repeated step keeps its later row
    t = t[pd.to_numeric(t["step"], errors="coerce").notna()]
    t = t[~t["step"].duplicated(keep="last")].reset_index(drop=True)
    step = column(t, "step")
    epoch_f = column(t, "epoch_f")
    loss_raw = column(t, "loss")
    loss = np.where(np.isfinite(loss_raw), loss_raw, np.nan)
    lr = column(t, "lr")
    n = len(t)
    window = int(min(31, max(5, n // 40))) | 1
    interval = float(np.median(np.diff(step))) if n > 1 else float("nan")
    iter_runner = run.meta.get("runner") == "iter"
    warmup_end_row, warmup_iters = _warmup(run.meta, step, lr)
    skipped = run.meta.get("skipped") or {}
    truncated = any("truncat" in str(k).lower() for k in skipped)
    return Signals(t, step, epoch_f, loss, loss_raw, lr, warmup_end_row, warmup_iters, window,
                   interval, iter_runner, truncated)


def nonfinite_rows(sig: Signals, values: np.ndarray) -> np.ndarray:
    """Rows whose logged value is nan/inf. NaN also means "not logged": a NaN in the last row
    of a log whose last line was cut mid-write (a log still being written) is not counted."""
    bad = ~np.isfinite(values)
    if sig.last_truncated and len(bad) and np.isnan(values[-1]):
        bad[-1] = False
    return bad


def progress(run, sig: Signals) -> float | None:
    """Fraction of the planned iterations the log reached (None when the plan is unknown)."""
    meta = run.meta
    total = None
    if meta.get("runner") == "iter" and meta.get("max_iters"):
        total = meta["max_iters"]
    elif meta.get("max_epochs") and meta.get("iters_per_epoch"):
        total = meta["max_epochs"] * meta["iters_per_epoch"]
    if not total or not len(sig.step):
        return None
    return float(np.nanmax(sig.step) / total)


def column(t: pd.DataFrame, name: str) -> np.ndarray:
    if name not in t:
        return np.full(len(t), np.nan)
    return pd.to_numeric(t[name], errors="coerce").to_numpy(dtype=float)


def _warmup(meta: dict, step: np.ndarray, lr: np.ndarray) -> tuple[int, int | None]:
    """Row where warmup ends and its length in iterations.

    The config's `warmup_iters` wins when the log carries it; otherwise warmup is an lr that
    starts below 90% of its early peak and climbs to it.
    """
    n = len(step)
    if n == 0:
        return 0, None
    sched = meta.get("lr_schedule") if isinstance(meta.get("lr_schedule"), dict) else {}
    iters = sched.get("warmup_iters")
    if sched.get("warmup") and isinstance(iters, (int, float)) and iters > 0:
        after = np.flatnonzero(step > iters)
        if not len(after):
            return n, int(iters)  # the whole log is still warming up
        return int(after[0]), int(iters)  # 0 for a resumed log that starts after warmup
    finite = np.isfinite(lr)
    if finite.sum() < 3:
        return 0, None
    head = lr[: max(3, n // 2)]
    peak = np.nanmax(head)
    first = lr[np.argmax(finite)]
    if not peak > 0 or first >= 0.9 * peak:
        return 0, None
    reached = np.flatnonzero(finite & (lr >= 0.98 * peak))
    row = int(reached[0]) if len(reached) else 0
    if row == 0:
        return 0, None
    return row, int(step[row])


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] row ranges where `mask` is True, inclusive."""
    if len(mask) == 0:
        return []
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def loss_columns(t: pd.DataFrame, final_only: bool = False) -> list[str]:
    """Numeric logged loss components (not the total `loss`), in log order."""
    out = []
    for name in t.columns:
        if name == "loss" or "loss" not in str(name):
            continue
        if final_only and AUX_KEY.search(str(name)):
            continue
        if pd.api.types.is_numeric_dtype(t[name]):
            out.append(name)
    return out


# ---- facts from meta -------------------------------------------------------------------

def base_lr(meta: dict, sig: Signals | None = None) -> float | None:
    """The optimizer's base lr from the config; only param group 0's lr is logged, so the
    logged lr is a fallback (a backbone group with lr_mult would mislead)."""
    lr = meta.get("lr")
    if _finite(lr) and lr > 0:
        return float(lr)
    if sig is not None and "base_lr" in sig.t:
        base = column(sig.t, "base_lr")
        if np.isfinite(base).any():
            return float(np.nanmax(base))
    return None


def peak_logged_lr(sig: Signals) -> float | None:
    lr = sig.lr[np.isfinite(sig.lr)]
    return float(lr.max()) if len(lr) and lr.max() > 0 else None


def lr_for_fix(meta: dict, sig: Signals) -> float | None:
    return base_lr(meta, sig) or peak_logged_lr(sig)


def lower_lr_fix(meta: dict, sig: Signals, divisor: float) -> tuple[list[dict], list[str]]:
    """The lr change most rules suggest: the run's lr / divisor, as (changes, fix sentence parts)."""
    base = lr_for_fix(meta, sig)
    if not base:
        return [], []
    to = nice_lr(base / divisor)
    return [{"param": "lr", "from": base, "to": to}], [f"lr {fmt(base)} → {fmt(to)}"]


def dynamic_loss_scale(meta: dict) -> bool | None:
    """True for dynamic fp16 loss scaling, False for a static scale, None when unknown."""
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    candidates = [cfg.get("fp16"), cfg.get("optimizer_config"), cfg.get("optim_wrapper")]
    for c in candidates:
        if isinstance(c, dict) and "loss_scale" in c:
            return c["loss_scale"] == "dynamic" or isinstance(c["loss_scale"], dict)
    return None


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ---- building findings -----------------------------------------------------------------

def finding(run, rule: str, severity: str, sig: Signals, first: int | None, last: int | None,
            message: str, evidence: dict, fix_text: str, changes: list | None = None) -> Finding:
    """A Finding spanning rows first..last of `sig.t` (None for whole-run findings)."""
    def at(arr, i):
        if i is None or not len(arr):
            return None
        v = arr[min(max(i, 0), len(arr) - 1)]
        return float(v) if np.isfinite(v) else None

    start_step, end_step = at(sig.step, first), at(sig.step, last)
    return Finding(
        run=run.name, rule=rule, severity=severity,
        start_step=int(start_step) if start_step is not None else None,
        end_step=int(end_step) if end_step is not None else None,
        start_epoch=_round(at(sig.epoch_f, first)), end_epoch=_round(at(sig.epoch_f, last)),
        message=message, evidence=evidence, fix=Fix(fix_text, changes or []),
    )


def _round(x):
    return None if x is None else round(x, 3)


def where(sig: Signals, first: int, last: int | None = None) -> str:
    """'epoch 6.2', 'epochs 6.2–9.8' or 'iter 1,200' / 'iters 1,200–4,000'."""
    def one(i):
        e = sig.epoch_f[i] if len(sig.epoch_f) else float("nan")
        if not sig.iter_runner and np.isfinite(e):
            return f"{e:.1f}"
        return f"{int(sig.step[i]):,}"

    unit = "iter" if sig.iter_runner or not np.isfinite(sig.epoch_f[first]) else "epoch"
    if last is None or last == first or one(first) == one(last):
        return f"{unit} {one(first)}"
    return f"{unit}s {one(first)}–{one(last)}"


def fmt(x: float, digits: int = 3) -> str:
    """Short human number: 3.91, 0.0123, 1.0e-03."""
    if x is None or not np.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.1e}"
    return f"{x:.{digits}g}"


def pct(x: float) -> str:
    """+9.4%, −12.0%, or ×21 for changes beyond +100%."""
    if not np.isfinite(x):
        return "?"
    return f"×{1 + x:.3g}" if x > 1 else f"{x * 100:+.1f}%"


def nice_lr(x: float) -> float:
    """Round a suggested lr to two significant digits (2.0e-04, not 1.9999e-04)."""
    if not x or not np.isfinite(x):
        return x
    return float(f"{x:.2g}")


# ---- lr change points ------------------------------------------------------------------

@dataclass
class LrChange:
    row: int  # first row at the new lr
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before


def lr_quantum(lr: np.ndarray) -> float:
    """Rounding step of the logged lr: mmcv's .log.json keeps 5 decimals, so a cosine tail
    moves in steps of 1e-05 that must not read as a step decay."""
    v = lr[np.isfinite(lr)]
    if not len(v):
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # an lr of 1e308 in a damaged log
        scaled = v * 1e5
        return 1e-5 if np.all(np.abs(scaled - np.round(scaled)) < 1e-6) else 0.0


def lr_changes(sig: Signals, drop_ratio: float = 0.7, rise_ratio: float = 1.5,
               flat_rows: int = 3, flat_tol: float = 0.01) -> tuple[list[LrChange], list[LrChange]]:
    """(step drops, restarts) of the logged lr.

    A drop is a fall to ≤ `drop_ratio` × the previous row after ≥ `flat_rows` rows of flat lr
    (a step schedule is flat between its steps; a cosine decay is not). A restart is a rise
    to ≥ `rise_ratio` × the previous row after warmup. Changes smaller than two rounding
    steps of the log are ignored.
    """
    lr = sig.lr
    q = lr_quantum(lr)
    drops, rises = [], []
    idx = np.flatnonzero(np.isfinite(lr))
    for k in range(1, len(idx)):
        i, j = idx[k - 1], idx[k]
        before, after = lr[i], lr[j]
        if before <= 0 or abs(after - before) <= 2 * q:
            continue
        if after <= drop_ratio * before:
            prev = lr[idx[max(0, k - flat_rows):k]]
            if len(prev) >= 1 and (prev.max() - prev.min()) <= flat_tol * prev.max() + 2 * q:
                drops.append(LrChange(int(j), float(before), float(after)))
        elif after >= rise_ratio * before and j > sig.warmup_end_row:
            rises.append(LrChange(int(j), float(before), float(after)))
    return drops, rises


# ---- the lr/batch recipe ---------------------------------------------------------------

RECIPE_LR = 2e-4  # DETR-family AdamW recipe (DETR3D, PETR, StreamPETR …): 2e-4 at total batch 8,
RECIPE_BATCH = 8  # 4e-4 at 16 — linear in the total batch
RECIPE_TEXT = "2e-4 at total batch 8, 4e-4 at 16 (AdamW)"


RECIPE_OPTIMIZERS = ("adamw", "adam")


def recipe_lr(total_batch, optimizer=None, any_optimizer: bool = False) -> float | None:
    """The recipe's lr for this total batch (linear scaling); None when the batch is unknown
    or the optimizer is not one the recipe is for (pass any_optimizer=True to skip that check)."""
    if not _finite(total_batch) or total_batch <= 0:
        return None
    if not any_optimizer and str(optimizer or "").lower() not in RECIPE_OPTIMIZERS:
        return None
    return RECIPE_LR * total_batch / RECIPE_BATCH


# ---- evaluation metrics ----------------------------------------------------------------

# headline metrics, most preferred first; all higher-is-better
METRIC_PREFERENCE = [r"(^|/)NDS$", r"(^|/)nds$", r"(^|/)(bbox_)?mAP$", r"(^|/)map$", r"(^|/)mAP$",
                     r"(^|/)AP$", r"(^|/)recall", r"(^|/)acc"]


def headline_metric(evals: pd.DataFrame) -> str | None:
    names = [m for m in evals["metric"].unique() if isinstance(m, str)]
    for pattern in METRIC_PREFERENCE:
        hits = sorted(m for m in names if re.search(pattern, m))
        if hits:
            return min(hits, key=len)
    return None
