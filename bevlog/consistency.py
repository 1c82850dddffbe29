"""Do the findings of one run agree with each other and with the log?

`contradictions(run, diagnosis)` lists, one sentence each, everything that would make a user
distrust the diagnosis: two findings asserting opposite facts (the run learns / its metric is at
chance; the lr is too high / too low), an event placed where the log does not put it (a
non-finite loss at a row whose loss is finite, trouble "after warmup" inside the warmup), a
window that spans a resume or a warm restart, a plan that contradicts itself (a milestone past the
new end, a warmup longer than the run), a verdict that is "healthy" on a run with no train row.
The suite runs it over every bundled run; an empty list is the only passing answer.
"""
from __future__ import annotations

import numpy as np

from bevlog.findings import is_number

# rules that measure a trend over a window of rows: no window may span a phase boundary
WINDOW_RULES = ("divergence", "plateau", "oscillation", "no-takeoff")


def contradictions(run, diagnosis) -> list[str]:
    findings = diagnosis.findings
    out = []
    out += _learns_and_chance(findings)
    out += _lr_direction(findings)
    out += _places(run, findings)
    out += _windows(run, findings)
    out += _plan(run, diagnosis.plan)
    if diagnosis.verdict == "healthy" and (run.train is None or not len(run.train)):
        out.append("verdict healthy on a run with no train row")
    return out


def _learns_and_chance(findings) -> list[str]:
    dead = [f for f in findings if f.rule == "metric-chance" and f.kind == "dead"]
    learns = [f for f in findings if f.evidence.get("learns_well") is True or "learns well" in f.message]
    peaks = [f for f in findings if f.rule == "overfitting"]
    out = []
    if dead and learns:
        out.append(f"{learns[0].rule} says the run learns while metric-chance says it detects nothing")
    if dead and peaks:
        out.append("overfitting reads a peak of a metric that metric-chance calls chance")
    return out


def _lr_direction(findings) -> list[str]:
    said = {}
    for f in findings:
        direction = f.evidence.get("direction") if f.rule == "lr-batch" else f.evidence.get("lr_direction")
        if direction in ("high", "low"):
            said.setdefault(direction, []).append(f.rule)
        text = f.fix.text if f.fix else ""
        if "may be too low" in text or "too low for this batch" in text:
            said.setdefault("low", []).append(f.rule)
    if "high" in said and "low" in said:
        return [f"the lr is too high ({', '.join(said['high'])}) and too low ({', '.join(said['low'])})"]
    return []


def _rows(run):
    t = run.train
    if t is None or not len(t) or "step" not in t:
        return np.array([]), np.array([])
    step = t["step"].to_numpy(dtype=float)
    loss = t["loss"].to_numpy(dtype=float) if "loss" in t else np.full(len(t), np.nan)
    return step, loss


def _places(run, findings) -> list[str]:
    step, loss = _rows(run)
    out = []
    known = set(step[np.isfinite(step)].tolist())
    if run.superseded is not None and len(run.superseded) and "step" in run.superseded:
        known |= set(run.superseded["step"].to_numpy(dtype=float).tolist())
    for f in findings:
        for s in (f.start_step, f.end_step):
            if s is not None and known and float(s) not in known:
                out.append(f"{f.rule} places an event at step {s}, where the log has no row")
    for f in findings:
        if f.rule == "nonfinite-loss" and f.kind == "nonfinite" and len(step):
            i = np.flatnonzero(step == f.evidence.get("first_step"))
            if len(i) and np.isfinite(loss[i[-1]]):
                out.append(f"nonfinite-loss puts the first non-finite loss at step {f.start_step}, where it is finite")
        if f.rule == "warmup" and f.kind == "nonfinite":
            end = f.evidence.get("warmup_end_step")
            before = step < end if is_number(end) else np.zeros(len(step), bool)
            if before.any() and not np.isfinite(loss[before]).all():
                out.append("warmup says the loss went non-finite right after warmup; it already was inside it")
    return out


def _windows(run, findings) -> list[str]:
    from bevlog.rules._common import phase_cuts, signals

    sig = signals(run)
    cuts = [float(sig.step[r]) for r in phase_cuts(sig) if r < len(sig.step)]
    out = []
    for f in findings:
        if f.rule not in WINDOW_RULES or f.start_step is None or f.end_step is None:
            continue
        inside = [c for c in cuts if f.start_step < c <= f.end_step]
        if inside:
            out.append(f"{f.rule}'s window (steps {f.start_step:,}–{f.end_step:,}) spans a resume or a warm restart "
                       f"at step {int(inside[0]):,}")
    return out


def _plan(run, plan) -> list[str]:
    from bevlog.schedule import total_iters

    out = []
    changes = plan.changes
    length = changes.get("max_epochs") or changes.get("max_iters")
    steps = changes.get("lr_steps")
    meta = run.meta
    new_len = length.to if length is not None else None
    if steps is not None and isinstance(steps.to, list):
        end = new_len if new_len is not None else (meta.max_epochs if meta.runner != "iter" else meta.max_iters)
        if is_number(end) and any(m >= end for m in steps.to):
            out.append(f"the plan's milestones {steps.to} are not inside its run of {end}")
    elif length is not None and meta.lr_schedule is not None and meta.lr_schedule.steps and is_number(new_len):
        if any(m >= new_len for m in meta.lr_schedule.steps) and meta.lr_schedule.by_epoch is not False \
                and length.param == "max_epochs":
            out.append(f"the plan shortens the run to {new_len} but keeps milestones {list(meta.lr_schedule.steps)}")
    warm = changes.get("warmup_iters")
    total = total_iters(meta)
    if length is not None and is_number(new_len) and meta.iters_per_epoch and length.param == "max_epochs":
        total = new_len * meta.iters_per_epoch
    if warm is not None and is_number(warm.to) and total and warm.to >= total:
        out.append(f"the plan's warmup ({warm.to}) is not inside the run ({int(total)} iterations)")
    return out
