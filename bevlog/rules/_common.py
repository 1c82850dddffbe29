"""Signals every rule reads, computed once per Run and kept in a per-run cache.

A logged row of an mmcv/mmengine log is already a mean over ~50 iterations, so the rules
work on rows: robust statistics (rolling medians, medians of windows) rather than
per-iteration thresholds. Everything here is a plain function of the Run's frames.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from bevlog import config_keys, fixes
from bevlog.evaluations import detection_series, headline_series
from bevlog.findings import Alternative, Change, Finding, Fix, is_number
from bevlog.fixes import render_fix
from bevlog.numbers import fmt, nice_lr, pct  # noqa: F401 - the rules' number words
from bevlog.recipes import recipe_from_terms
from bevlog.schedule import lr_changes, lr_scale, model_schedule, starts_mid_run, total_iters
from bevlog.smooth import rolling_median
from bevlog.where import at_text, epoch_label, log_terms, span_text, steps_text  # noqa: F401 - the rules' place words
from parsers import Meta, segment_starts

CACHE_KEY = "bevlog.signals"
# Run -> {key: derived value}. Keyed weakly by the Run object (Runs hash by identity), so
# nothing is written into the Run and an entry goes when its Run does. A Run's frames and
# frozen meta are not edited after parsing; a changed Run is a new object with a fresh cache.
_CACHES: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
AUX_KEY = re.compile(r"(^|[._/])d\d+\.")  # mmdet intermediate-layer prefix `dK.`


def doc(default, text: str):
    """A named threshold with its documentation (read by `bevlog diagnose --explain`)."""
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
    segment_start: np.ndarray  # bool per row: first row of a resumed launch (parsers.segment_starts)
    schedule: Any = None  # bevlog.schedule.Schedule: the lr schedule from the config and the logged lr
    mid_run: bool = False  # the log starts in the middle of a run without a resume line
    derived: dict = field(default_factory=dict)  # values computed from these on first use (phases)
    step_unit: str = "iteration"  # what a step counts: "epoch" when every row is a whole epoch (Meta.step_unit)
    epoch_base: int | None = None  # the log counts epochs from this (DETR: 0), Meta.epoch_base
    # the total loss is in the log: False when the `loss` column holds no value at all while loss terms
    # do (or none is logged): a total that was never logged is absent, not non-finite
    loss_logged: bool = True

    def steps(self, n) -> str:
        """A length on the step axis in the run's units: '2,001 iters', '5 epochs'."""
        return steps_text(n, self.step_unit)


def run_cache(run) -> dict:
    """The cache of values derived from `run` (signals, layer windows), created on first use."""
    cache = _CACHES.get(run)
    if cache is None:
        cache = _CACHES[run] = {}
    return cache


def signals(run) -> Signals:
    cache = run_cache(run)
    sig = cache.get(CACHE_KEY)
    if sig is None:
        sig = cache[CACHE_KEY] = _compute(run)
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
    iter_runner = run.meta.runner == "iter"

    sched = model_schedule(run.meta, t, step, lr, epoch_f)
    truncated = any("truncat" in str(k).lower() for k in run.meta.skipped)
    resumed = bool(len(run.meta.segments) and run.meta.segments[0].resumed_from is not None)
    mid_run = not resumed and starts_mid_run(run.meta, step, epoch_f)
    return Signals(
        t,
        step,
        epoch_f,
        loss,
        loss_raw,
        lr,
        sched.warmup_end_row,
        sched.warmup_iters,
        window,
        interval,
        iter_runner,
        truncated,
        segment_starts(t),
        sched,
        mid_run,
        step_unit=str(run.meta.step_unit or "iteration"),
        epoch_base=run.meta.epoch_base,
        loss_logged=total_loss_logged(t),
    )


def total_loss_logged(t: pd.DataFrame) -> bool:
    """Is the total loss in the log? Not when its column holds no value at all (no number, no nan/inf
    the log wrote) while a loss term has finite values, or when no loss term is logged either: a
    format that logs only terms (TensorBoard tags, ultralytics) or none has no total, and an absent
    total is not a non-finite one. A total that is nan in every row beside terms that are nan too is
    a run the log shows non-finite from its first row."""
    if "loss" not in t:
        return False
    total = pd.to_numeric(t["loss"], errors="coerce").to_numpy(dtype=float)
    if (~np.isnan(total)).any():
        return True
    terms = loss_columns(t)
    return bool(terms) and not any(np.isfinite(column(t, c)).any() for c in terms)


def phase_cuts(sig: Signals) -> list[int]:
    """Rows where a new phase of the run begins: a resumed launch takes over, or the lr restarts
    (a warm restart after warmup). No window a rule measures spans one of these rows."""
    cuts = sig.derived.get("phase_cuts")
    if cuts is None:
        rows = set(np.flatnonzero(sig.segment_start).tolist())
        rows |= {c.row for c in lr_changes(sig, sig.schedule) if c.kind == "restart"}
        cuts = sig.derived["phase_cuts"] = sorted(r for r in rows if r > 0)
    return cuts


def phase_of(sig: Signals, row: int) -> tuple[int, int]:
    """(first row, one past the last row) of the phase that holds `row`."""
    cuts = phase_cuts(sig)
    k = int(np.searchsorted(cuts, row, side="right"))
    lo = cuts[k - 1] if k else 0
    hi = cuts[k] if k < len(cuts) else len(sig.step)
    return lo, hi


def phases(sig: Signals) -> list[tuple[int, int]]:
    """[(first row, one past the last)] of every phase, in order."""
    cuts = phase_cuts(sig)
    return list(zip([0] + cuts, cuts + [len(sig.step)]))


def nonfinite_rows(sig: Signals, values: np.ndarray) -> np.ndarray:
    """Rows whose logged value is nan/inf. NaN also means "not logged": a NaN in the last row
    of a log whose last line was cut mid-write (a log still being written) is not counted."""
    bad = ~np.isfinite(values)
    if sig.last_truncated and len(bad) and np.isnan(values[-1]):
        bad[-1] = False
    return bad


def progress(run, sig: Signals) -> float | None:
    """Fraction of the planned iterations the log reached (None when the plan is unknown)."""
    total = total_iters(run.meta)
    if not total or not len(sig.step):
        return None
    return float(np.nanmax(sig.step) / total)


def column(t: pd.DataFrame, name: str) -> np.ndarray:
    if name not in t:
        return np.full(len(t), np.nan)
    return pd.to_numeric(t[name], errors="coerce").to_numpy(dtype=float)


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


def base_lr(meta: Meta, sig: Signals | None = None) -> float | None:
    """The optimizer's base lr from the config; only param group 0's lr is logged, so the
    logged lr is a fallback (a backbone group with lr_mult would mislead)."""
    lr = meta.lr
    if is_number(lr) and lr > 0:
        return float(lr)
    if sig is not None and "base_lr" in sig.t:
        base = column(sig.t, "base_lr")
        if np.isfinite(base).any():
            return float(np.nanmax(base))
    return None


def peak_logged_lr(sig: Signals) -> float | None:
    lr = sig.lr[np.isfinite(sig.lr)]
    return float(lr.max()) if len(lr) and lr.max() > 0 else None


def lr_for_fix(meta: Meta, sig: Signals) -> float | None:
    return base_lr(meta, sig) or peak_logged_lr(sig)


def change(run, param: str, to, frm=None, reason: str = "") -> Change:
    """A config change to `param`, at the key the run's config keeps it (bevlog.config_keys)."""
    key = config_keys.key_for(param, run.meta)
    if frm is None:
        frm = config_keys.current(param, run.meta)
    return Change(param, to, frm, key, reason=reason)


def lr_change(
    run, sig: Signals, *, config_to=None, logged_to=None, effective_to=None, reason: str = ""
) -> Change | None:
    """The lr change a rule asks for, as the value to write in the config and the lr it yields.

    A rule reasons in one of three scales: the config's lr (`config_to`), the lr the log shows
    (`logged_to`, param group 0: a ratio to the schedule's logged peak carries over to the
    config, whatever lr multiplier or auto-scaling sits between), or the lr the optimizer should
    see (`effective_to`: a reference lr at the run's batch). The config value follows from the
    run's `LrScale` (mmengine's auto_scale_lr).

    When the log does not state the config's lr (a DETR log.txt, an mmcv json without its config),
    the logged lr is only parameter group 0's — a backbone group at a tenth of the base lr in
    RT-DETR and in configs with a backbone lr_mult — and no value to write: the change is then
    relative (`factor`: "lr ÷ 2"), never a wrong absolute value."""
    scale = lr_scale(run.meta)
    config = scale.config_lr
    logged_peak = sig.schedule.peak_lr() if sig.schedule is not None else None
    if not config:
        return _relative_lr_change(run, sig, config_to, logged_to, logged_peak, reason)
    if logged_to is not None:
        if config and logged_peak:
            config_to = config * logged_to / logged_peak
        else:
            config_to = logged_to / scale.factor
    elif effective_to is not None:
        config_to = effective_to / scale.factor
    if config_to is None or not is_number(config_to) or config_to <= 0:
        return None
    config_to = nice_lr(config_to)
    frm = config if config else peak_logged_lr(sig)
    eff_from = eff_to = None
    if scale.factor != 1.0:
        eff_from = frm * scale.factor if frm else None
        eff_to = config_to * scale.factor
    return Change(
        "lr", config_to, frm, config_keys.key_for("lr", run.meta), eff_to, eff_from, scale.why or None, reason
    )


def _relative_lr_change(run, sig: Signals, config_to, logged_to, logged_peak, reason: str) -> Change | None:
    """The lr change as a factor of the config's (unstated) lr."""
    logged = peak_logged_lr(sig)
    if logged_to is not None and (logged_peak or logged):
        factor = logged_to / (logged_peak or logged)
    elif config_to is not None and lr_for_fix(run.meta, sig):
        factor = config_to / lr_for_fix(run.meta, sig)
    else:
        return None
    if not is_number(factor) or factor <= 0:
        return None
    recipe = recipe_from_terms(sig.t.columns)
    group0 = f" ({recipe.group0})" if recipe is not None and recipe.group0 else ", which may be a backbone group"
    why = (
        f"the log does not state the config's lr; its logged lr ({fmt(logged)}) is parameter group 0's{group0}"
        if logged
        else "the log does not state the config's lr"
    )
    return Change(
        "lr",
        None,
        None,
        config_keys.key_for("lr", run.meta),
        reason="; ".join(x for x in (reason, why) if x),
        factor=float(factor),
    )


def lower_lr_fix(meta_or_run, sig: Signals, divisor: float, reason: str = "") -> list[Change]:
    """The lr change most rules suggest: the run's config lr / divisor."""
    run = meta_or_run
    base = lr_for_fix(run.meta, sig)
    if not base:
        return []
    c = lr_change(run, sig, config_to=base / divisor, reason=reason or f"the lr / {divisor:g}")
    return [c] if c is not None else []


def clip_change(run) -> Change | None:
    """A grad clip for a run that has none: mmdet3d's DETR configs' max_norm 35, or DETR's own 0.1
    for a run of the facebookresearch/detr lineage whose arguments say it does not clip; None when
    the log cannot say whether the run clips (a DETR log.txt without its arguments)."""
    meta = run.meta
    if meta.grad_clip:
        return None
    if meta.library in fixes.DETR_LINEAGE:
        if not isinstance(meta.config, dict):
            return None
        return change(
            run, "grad_clip", fixes.DETR_CLIP_MAX_NORM, reason="facebookresearch/detr's --clip_max_norm default"
        )
    return change(run, "grad_clip", fixes.CLIP_MAX_NORM, reason="the mmdet3d DETR configs' clip")


def warmup_change(run, sig: Signals, to: int, reason: str) -> Change:
    return change(run, "warmup_iters", int(to), sig.warmup_iters or None, reason)


def dynamic_loss_scale(meta: Meta) -> bool | None:
    """True for dynamic fp16 loss scaling, False for a static scale, None when unknown."""
    cfg = meta.config if isinstance(meta.config, dict) else {}
    candidates = [cfg.get("fp16"), cfg.get("optimizer_config"), cfg.get("optim_wrapper")]
    for c in candidates:
        if isinstance(c, dict) and "loss_scale" in c:
            return c["loss_scale"] == "dynamic" or isinstance(c["loss_scale"], dict)
    return None


# ---- the run's outcome -----------------------------------------------------------------

# a loss that fell less than this (first rows → smoothed end) on a run without evaluations is a
# poor outcome; DETR-family runs that learn fall by far more (DETR3D 60%, bevdetr 50–70%)
POOR_LOSS_FALL = 0.10


@dataclass(frozen=True)
class Outcome:
    """How the run turned out, read once and shared: a settings finding escalates only when the
    outcome is poor, and says so when the run's own evidence contradicts its premise."""

    trained: bool  # at least one train row was understood
    metric: Any  # bevlog.evaluations.MetricSeries of the headline metric, or None
    at_chance: bool  # the detection metric is at chance at every evaluation after the first
    learns: bool  # the headline metric rises and ends near its best, above chance
    loss_fall: float | None  # the loss's fall from its first rows to its smoothed end
    ends_nonfinite: bool  # the loss is nan/inf in the last row
    # (the lr at which rows a resume re-ran first went nan/inf, the lr the run resumed at): an earlier
    # attempt that failed, whatever the resumed run did after it; None without one
    failed_attempt: tuple | None = None

    @property
    def poor(self) -> bool:
        if not self.trained:
            return False  # nothing to judge: neither good nor poor
        if self.at_chance or self.ends_nonfinite:
            return True
        if self.metric is not None and len(self.metric) >= 2:
            return not self.learns and self.metric.value[-1] < 0.5 * self.metric.best
        return self.loss_fall is not None and self.loss_fall < POOR_LOSS_FALL

    def good_text(self) -> str | None:
        """'coco/bbox_mAP 0.113 → 0.268' or 'the loss fell 74%' when the run went well, else None."""
        if self.poor or not self.trained:
            return None
        if self.metric is not None and self.learns:
            m = self.metric
            return f"{m.name} {m.value[0]:.3g} → {m.value[-1]:.3g}"
        if (self.metric is None or len(self.metric) < 2) and self.loss_fall is not None and self.loss_fall >= 0.3:
            return f"the loss fell {self.loss_fall:.0%}"
        return None


def outcome(run) -> Outcome:
    cache = run_cache(run)
    if "bevlog.outcome" not in cache:
        sig = signals(run)
        det = detection_series(run)
        head = headline_series(run)
        cache["bevlog.outcome"] = Outcome(
            trained=bool(len(sig.step)),
            metric=head,
            at_chance=bool(det is not None and len(det) >= 2 and det.at_chance()),
            learns=bool(head is not None and head.learns_well()),
            loss_fall=loss_fall(sig),
            ends_nonfinite=bool(
                len(sig.loss_raw) and sig.loss_logged and not np.isfinite(sig.loss_raw[-1]) and not sig.last_truncated
            ),
            failed_attempt=_failed_attempt(run, sig),
        )
    return cache["bevlog.outcome"]


def _failed_attempt(run, sig: Signals) -> tuple | None:
    """(lr where the superseded rows first went non-finite, lr at the first row of the launch that
    replaced them), None when no superseded row is non-finite."""
    sup = run.superseded
    if sup is None or not len(sup) or "loss" not in sup or "lr" not in sup:
        return None
    loss = pd.to_numeric(sup["loss"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(loss))
    if not len(bad):
        return None
    lr_fail = float(pd.to_numeric(sup["lr"], errors="coerce").iloc[bad[0]])
    resumed = None
    if "superseded_by" in sup and "segment" in sig.t:
        by = int(sup["superseded_by"].iloc[bad[0]])
        mine = np.flatnonzero((np.asarray(sig.t["segment"]) == by) & np.isfinite(sig.lr))
        resumed = float(sig.lr[mine[0]]) if len(mine) else None
    return (lr_fail if np.isfinite(lr_fail) else None), resumed


def loss_fall(sig: Signals) -> float | None:
    """Relative fall of the loss from its first rows to the smoothed end of the run."""
    finite = sig.loss[np.isfinite(sig.loss)]
    if len(finite) < 6:
        return None
    smooth = rolling_median(sig.loss, sig.window)
    tail = smooth[np.isfinite(smooth)]
    first = float(np.median(finite[:3]))
    last = float(np.median(tail[-max(2, len(tail) // 20) :]))
    return 1 - last / first if first > 0 else None


# ---- building findings -----------------------------------------------------------------


def finding(
    run,
    rule: str,
    severity: str,
    sig: Signals,
    first: int | None,
    last: int | None,
    message: str,
    evidence: dict,
    advice: str = "",
    changes: list | None = None,
    headline: str | None = None,
    alternative: Alternative | None = None,
) -> Finding:
    """A Finding spanning rows first..last of `sig.t` (None for whole-run findings). The fix is
    `changes` (Change), `advice` (what is no config change) and an `alternative` (changes that
    would do instead); its text is rendered from them."""

    def at(arr, i):
        if i is None or not len(arr):
            return None
        v = arr[min(max(i, 0), len(arr) - 1)]
        return float(v) if np.isfinite(v) else None

    start_step, end_step = at(sig.step, first), at(sig.step, last)
    changes = [c for c in (changes or []) if c is not None]
    span = (
        where(sig, first, last if last != first else None)
        if first is not None and start_step is not None and len(sig.step)
        else None
    )
    return Finding(
        run=run.name,
        rule=rule,
        severity=severity,
        start_step=int(start_step) if start_step is not None else None,
        end_step=int(end_step) if end_step is not None else None,
        start_epoch=_round(at(sig.epoch_f, first)),
        end_epoch=_round(at(sig.epoch_f, last)),
        message=message,
        evidence=evidence,
        fix=Fix(render_fix(changes, advice, alternative=alternative), changes, advice, alternative),
        at=at_text(row_terms(run, sig, first), row_terms(run, sig, last)) if start_step is not None else None,
        headline=headline,
        span=span,
    )


def row_terms(run, sig: Signals, i: int | None) -> str | None:
    """Row i as the log writes its place ('Epoch [6][1050/3750]', 'Iter [1200/90000]')."""
    if i is None or not len(sig.step):
        return None
    i = min(max(i, 0), len(sig.step) - 1)
    t = sig.t

    def get(name):
        return float(t[name].iat[i]) if name in t and is_number(t[name].iat[i]) else None

    return log_terms(
        run.meta, get("epoch"), get("iter"), get("iters_per_epoch") or run.meta.iters_per_epoch, sig.step[i]
    )


def _round(x):
    return None if x is None else round(x, 3)


def where(sig: Signals, first: int, last: int | None = None) -> str:
    """'epoch 6.2', 'epochs 6.2–9.8' or 'iter 1,200' / 'iters 1,200–4,000'; 'epoch 249' in a log of
    one row per epoch (bevlog.where)."""

    def pair(i):
        i = min(max(i, 0), len(sig.step) - 1)
        e = sig.epoch_f[i] if len(sig.epoch_f) else float("nan")
        return float(sig.step[i]), float(e)

    return span_text(
        pair(first), pair(last) if last is not None else None, sig.iter_runner, sig.step_unit, sig.epoch_base
    )


def epoch_words(sig: Signals, epoch) -> str:
    """'epoch 249': a whole epoch (an evaluation's, a checkpoint's) as the log counts it."""
    return f"epoch {epoch_label(epoch, sig.epoch_base)}"


def resume_words(sig: Signals, point, with_iter: bool = True) -> str:
    """Where a launch resumed, as the log counts: 'epoch 12, iter 45000' (mmcv's checkpoint of epoch
    12; 'epoch 12' without `with_iter`), 'the checkpoint after epoch 34' (a log counting epochs from 0,
    whose next row is epoch 35); no iteration in a log of one row per epoch."""
    if point is None or (point.epoch is None and point.iter is None):
        return "an earlier checkpoint"
    if sig.epoch_base is not None and sig.epoch_base != 1 and is_number(point.epoch):
        return f"the checkpoint after epoch {int(point.epoch) - 1 + sig.epoch_base}"
    parts = [f"epoch {point.epoch}"] if point.epoch is not None else []
    if point.iter is not None and sig.step_unit != "epoch" and (with_iter or not parts):
        parts.append(f"iter {point.iter}")
    return ", ".join(parts)
