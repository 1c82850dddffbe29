"""schedule: the lr schedule of the config against the run's own length.

Three contradictions a config can hold, each with the concrete change:
- step milestones at or past the planned end (`MultiStepLR` milestones [8, 11] in a 5-epoch run):
  the lr never decays there. The fix puts them at the same share of this run's length as of the
  schedule they were written for (a schedule of max(milestones) + 1, mmdet's 1x: [8, 11] of 12);
- a cosine phase whose period ends well before or after the run (mmengine `CosineAnnealingLR`
  `T_max`/`end` ≠ `max_epochs`): the lr reaches its floor early and stays there, or never anneals;
- a warmup at least as long as the run: the lr never reaches its peak.
The lr the log shows at its end is quoted as the evidence (a step that never came leaves the lr at
its peak).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import config_keys
from bevlog.fixes import MIN_WARMUP_ITERS, scaled_milestones
from bevlog.numbers import plain
from bevlog.rules._common import change, doc, finding, fmt, signals
from bevlog.schedule import total_iters

RULE_ID = "schedule"
SUMMARY = "lr milestones past the run's end, a cosine period that does not match the run, warmup longer than the run"


@dataclass(frozen=True)
class Thresholds:
    period_tolerance: float = doc(0.10, "a cosine period off the run's length by more than this share is a mismatch")
    warmup_share: float = doc(1.0, "a warmup at least this share of the run is longer than the run")
    new_warmup_share: float = doc(0.10, "a warmup the fix proposes is at most this share of the run")


def find_schedule(run, th: Thresholds = Thresholds()):
    return _milestones(run) + _cosine(run, th) + _warmup(run, th)


def _lr_end_text(sig) -> str:
    lr = sig.lr[np.isfinite(sig.lr)]
    peak = sig.schedule.peak_lr() if sig.schedule is not None else None
    if not len(lr) or not peak:
        return ""
    return f"; the log ends with the lr at {lr[-1] / peak:.0%} of its peak ({fmt(lr[-1])})"


def _milestones(run):
    meta = run.meta
    found = config_keys.milestones(meta)
    if found is None:
        return []
    ms, in_epochs = found
    length = meta.max_epochs if in_epochs else (meta.max_iters or total_iters(meta))
    unit = "epoch" if in_epochs else "iteration"
    if not length or all(m < length for m in ms):
        return []
    sig = signals(run)
    past = [m for m in ms if m >= length]
    moved = scaled_milestones(ms, float(max(ms) + 1), float(length))
    never = len(past) == len(ms)
    message = (f"lr milestones {plain(ms)} ({unit}s) lie {'all ' if never else ''}at or past the planned end "
               f"({int(length):,} {unit}s): the lr {'never decays' if never else 'decays fewer times than planned'}"
               + _lr_end_text(sig))
    evidence = {"kind": "milestones", "milestones": ms, "length": int(length), "in_epochs": in_epochs, "past": past}
    c = change(run, "lr_steps", moved, ms, f"the same share of a {int(length)}-{unit} run as of a "
                                          f"{max(ms) + 1}-{unit} one")
    return [finding(run, RULE_ID, "warning" if never else "info", sig, None, None, message, evidence, "", [c],
                    f"the lr {'never decays' if never else 'decays too late'}: milestones {plain(ms)} lie past the "
                    f"{int(length)}-{unit} run's end")]


def _cosine(run, th):
    meta = run.meta
    found = config_keys.cosine_period(meta)
    if found is None:
        return []
    begin, end, in_epochs = found
    length = meta.max_epochs if in_epochs else (meta.max_iters or total_iters(meta))
    if not length or abs(end - length) <= th.period_tolerance * length:
        return []
    sig = signals(run)
    unit = "epoch" if in_epochs else "iteration"
    how = ("reaches its floor early and stays there" if end < length else "never finishes annealing")
    message = (f"the cosine phase ends at {unit} {plain(end)} but the run at {plain(length)}: the lr {how}"
               + _lr_end_text(sig))
    key = config_keys.key_for("cosine_period", meta) or ""
    to = length - begin if key.endswith("T_max") else length
    frm = end - begin if key.endswith("T_max") else end
    evidence = {"kind": "cosine_period", "period_end": end, "length": int(length), "in_epochs": in_epochs}
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, "",
                    [change(run, "cosine_period", int(to), int(frm), "the period ends with the run")],
                    f"the cosine period ends at {unit} {plain(end)}, the run at {plain(length)}")]


def _warmup(run, th):
    meta = run.meta
    total = total_iters(meta)
    warm = config_keys.current("warmup_iters", meta)
    if not total or not warm or warm < th.warmup_share * total:
        return []
    sig = signals(run)
    to = int(max(1, min(MIN_WARMUP_ITERS, th.new_warmup_share * total)))
    message = (f"the warmup ({int(warm):,} iterations) is at least as long as the run ({int(total):,}): "
               f"the lr never reaches its peak" + _lr_end_text(sig))
    evidence = {"kind": "warmup_length", "warmup_iters": int(warm), "total_iters": int(total)}
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, "",
                    [change(run, "warmup_iters", to, int(warm), f"at most {th.new_warmup_share:.0%} of the run")],
                    "the warmup is longer than the run")]
