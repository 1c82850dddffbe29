"""Do the findings of one run agree with each other and with the log?

`contradictions(run, diagnosis)` lists, one sentence each, everything that would make a user
distrust the diagnosis: two findings asserting opposite facts (the run learns / its metric is at
chance; the lr is too high / too low), an event placed where the log does not put it (a
non-finite loss at a row whose loss is finite, trouble "after warmup" inside the warmup), a
window that spans a resume or a warm restart, a plan that contradicts itself (a milestone past the
new end or the scheduler's own end, a warmup longer than the run, a change to the value already
there), a finding that says the log has no evaluation when it has some, a loss that "did not react"
on rows where the log's loss jumped, "without an error" said of a log file (which does not record
tracebacks), an lr called harmless although an earlier attempt at it went non-finite, a verdict whose
status disagrees with its worst finding or that is "healthy" on a run with no train row (unless
the run only evaluated).

Kinds found on the DETR-family logs (the held-out audit, docs/verdict_audit.md): iterations named
in a log whose steps are epochs; trouble "after the warmup ended" where the logged lr still climbs;
a debugger quit (a person) called a crash; a non-finite loss in a log that never wrote a total loss;
an absolute lr written into a config whose lr the log does not state (a logged param group 0 may be
a backbone's); a grad clip "fixed" to a value looser than the run's own.
The suite runs it over every bundled run; an empty list is the only passing answer.
"""

from __future__ import annotations

import numpy as np

from bevlog import config_keys
from bevlog.findings import SEVERITY_RANK, is_number
from bevlog.rules._common import outcome, phase_cuts, signals
from bevlog.rules.log_integrity import DEBUGGER_FILE, STOP_EXCEPTIONS
from bevlog.schedule import total_iters

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
    out += _evaluations(run, findings)
    out += _loss_at_events(run, findings)
    out += _silence(run, findings)
    out += _earlier_attempt(run, findings)
    out += _status(diagnosis)
    out += _units(run, findings)
    out += _warmup_ended(run, findings)
    out += _stops(findings)
    out += _absent_loss(run, findings)
    out += _plan_values(run, diagnosis.plan)
    only_evaluated = (
        any(f.rule == "log-integrity" and f.kind == "evaluation_only" for f in findings)
        and run.evals is not None
        and len(run.evals)
    )
    if diagnosis.verdict == "healthy" and (run.train is None or not len(run.train)) and not only_evaluated:
        out.append("verdict healthy on a run with no train row")
    return out


# iterations named as a length or a place ("within 5 iters", "at iter 300", "the 500-iter warmup")
ITERATIONS = ("iters", "iter ", "-iter ", "iterations")


def _units(run, findings) -> list[str]:
    """A log of one row per epoch has no iterations: no finding measures or places anything in them."""
    if getattr(run.meta, "step_unit", "iteration") != "epoch":
        return []
    out = []
    for f in findings:
        said = [w for w in ITERATIONS if w in f.message or (f.span and w in f.span)]
        if said:
            out.append(f"{f.rule} speaks of iterations ({said[0].strip()!r}) in a log whose steps are epochs")
    return out


def _warmup_ended(run, findings) -> list[str]:
    """'Right after the warmup ended' is false where the logged lr goes on climbing past its end
    (by a tenth or more), unless the schedule climbs by design (cyclic, OneCycle)."""
    sig = signals(run)
    if sig.schedule is not None and sig.schedule.policy in ("cyclic", "onecycle"):
        return []
    out = []
    for f in findings:
        end = f.evidence.get("warmup_end_step") if f.rule == "warmup" else None
        if not is_number(end) or "warmup ended" not in f.message or not len(sig.step):
            continue
        at = np.flatnonzero(sig.step >= end)
        if not len(at):
            continue
        lr_end = sig.lr[at[0]]
        later = sig.lr[at[0] :]
        later = later[np.isfinite(later)]
        if np.isfinite(lr_end) and lr_end > 0 and len(later) and later.max() >= 1.1 * lr_end:
            out.append(
                f"warmup says the warmup ended at step {int(end):,}, where the logged lr ({lr_end:.3g}) "
                f"goes on climbing to {later.max():.3g}"
            )
    return out


def _stops(findings) -> list[str]:
    """A person quitting the debugger (bdb.BdbQuit), Ctrl-C or a scheduler's signal is a stop, not a crash."""
    out = []
    for f in findings:
        if f.rule != "log-integrity" or f.kind != "traceback":
            continue
        name = str(f.evidence.get("exception_type") or "").rsplit(".", 1)[-1]
        raised = str(f.evidence.get("raised_at") or "")
        file = raised.split('"')[1] if raised.count('"') >= 2 else raised
        if name in STOP_EXCEPTIONS or DEBUGGER_FILE.search(file):
            out.append(f"log-integrity calls a stop a crash ({name or file})")
    return out


def _absent_loss(run, findings) -> list[str]:
    """A total loss the log never wrote is absent, not non-finite."""
    if signals(run).loss_logged:
        return []
    return [
        f"{f.rule} says the loss went non-finite in a log that never wrote a total loss"
        for f in findings
        if f.rule in ("nonfinite-loss", "warmup") and f.kind == "nonfinite" and f.message.startswith("loss ")
    ]


def _plan_values(run, plan) -> list[str]:
    """No absolute lr for a config whose lr the log does not state; no clip looser than the run's."""
    out = []
    lr = plan.changes.get("lr")
    if lr is not None and lr.change.factor is None and is_number(lr.to) and not run.meta.lr:
        out.append(f"the plan writes lr {lr.to:.3g} into a config whose lr the log does not state")
    clip = plan.changes.get("grad_clip")
    if clip is not None and is_number(clip.to) and is_number(run.meta.grad_clip) and clip.to > run.meta.grad_clip:
        out.append(f"the plan loosens the grad clip from {run.meta.grad_clip:g} to {clip.to:g}")
    return out


# a finding that says the log has no evaluation
NO_EVALUATION = ("has no evaluation", "no evaluation in the log", "without evaluations")
# a finding that says the loss did not react to an event on its rows
NO_REACTION = ("the loss did not rise after it", "the loss did not react", "shrugged off")
# the worst severity each verdict allows ('stopped' and 'needs attention' carry warnings, 'healthy' only notes)
STATUS_WORST = {"healthy": "info", "stopped": "warning", "needs attention": "warning", "broken": "error"}


def _evaluations(run, findings) -> list[str]:
    """No finding says the log has no evaluation when the run has evaluation rows."""
    if run.evals is None or not len(run.evals):
        return []
    return [
        f"{f.rule} says the log has no evaluation; it has {len(run.evals)} evaluation rows"
        for f in findings
        if any(p in f.message for p in NO_EVALUATION)
    ]


def _loss_at_events(run, findings) -> list[str]:
    """A finding that says the loss did not react to an event it places (a grad_norm spike) while the
    log's loss on the event's rows is ≥ 1.5× its median over the ten rows before."""
    step, loss = _rows(run)
    out = []
    for f in findings:
        if f.start_step is None or not any(p in f.message or (f.fix and p in f.fix.text) for p in NO_REACTION):
            continue
        first = np.flatnonzero(step == f.start_step)
        last = np.flatnonzero(step == (f.end_step if f.end_step is not None else f.start_step))
        if not len(first) or not len(last):
            continue
        a, b = int(first[0]), int(last[-1])
        before = loss[max(0, a - 10) : a]
        before, during = before[np.isfinite(before)], loss[a : b + 1][np.isfinite(loss[a : b + 1])]
        if len(before) and len(during) and np.median(before) > 0 and during.max() >= 1.5 * np.median(before):
            out.append(
                f"{f.rule} says the loss did not react at step {f.start_step:,}, where the log's loss is "
                f"{during.max():.3g} against {np.median(before):.3g} before"
            )
    return out


def _silence(run, findings) -> list[str]:
    """'Without an error' is a claim only a console capture can support: a log file the logger writes
    does not record tracebacks."""
    if "console" in str(run.meta.format or ""):
        return []
    return [
        f"{f.rule} says the run ended without an error, which a {run.meta.format} log cannot show"
        for f in findings
        if "without an error" in f.message
    ]


def _earlier_attempt(run, findings) -> list[str]:
    """No finding calls the run's lr harmless (a note on a run that went well) when rows of an earlier
    attempt went non-finite at that lr (within half of the schedule's peak)."""
    failed = outcome(run).failed_attempt
    peak = signals(run).schedule.peak_lr() if signals(run).schedule is not None else None
    if not failed or failed[0] is None or not peak or failed[0] < 0.5 * peak:
        return []
    return [
        f"{f.rule} calls the lr harmless although an earlier attempt went non-finite at lr {failed[0]:.3g}"
        for f in findings
        if f.rule == "lr-batch" and f.severity == "info" and "did not prevent" in f.message
    ]


def _status(diagnosis) -> list[str]:
    """The verdict's status agrees with the worst finding (text, markdown, JSON and HTML print it)."""
    status = diagnosis.verdict
    worst = max((f.rank for f in diagnosis.findings), default=-1)
    allowed = SEVERITY_RANK[STATUS_WORST.get(status, "error")]
    out = []
    if worst > allowed:
        out.append(f"verdict {status} on a run with a finding at severity {worst}")
    if status == "broken" and worst < SEVERITY_RANK["error"]:
        out.append("verdict broken without an error finding")
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
    sig = signals(run)
    cuts = [float(sig.step[r]) for r in phase_cuts(sig) if r < len(sig.step)]
    out = []
    for f in findings:
        if f.rule not in WINDOW_RULES or f.start_step is None or f.end_step is None:
            continue
        inside = [c for c in cuts if f.start_step < c <= f.end_step]
        if inside:
            out.append(
                f"{f.rule}'s window (steps {f.start_step:,}–{f.end_step:,}) spans a resume or a warm restart "
                f"at step {int(inside[0]):,}"
            )
    return out


def _plan(run, plan) -> list[str]:
    out = []
    changes = plan.changes
    length = changes.get("max_epochs") or changes.get("max_iters")
    steps = changes.get("lr_steps")
    meta = run.meta
    new_len = length.to if length is not None else None
    for c in changes.values():
        if c.frm is not None and c.to == c.frm:
            out.append(f"the plan changes {c.change.key or c.param} to the value it already has ({c.to})")
    if steps is not None and isinstance(steps.to, list):
        end = new_len if new_len is not None else (meta.max_epochs if meta.runner != "iter" else meta.max_iters)
        if is_number(end) and any(m >= end for m in steps.to):
            out.append(f"the plan's milestones {steps.to} are not inside its run of {end}")
        if is_number(end) and isinstance(steps.frm, list) and not [m for m in steps.to + steps.frm if m < end]:
            out.append(f"the plan moves milestones {steps.frm} → {steps.to}: neither decays inside the run of {end}")
        sched_end = changes["step_end"].to if "step_end" in changes else config_keys.step_end(meta)
        if is_number(sched_end) and any(m >= sched_end for m in steps.to):
            out.append(f"the plan's milestones {steps.to} lie past the scheduler's end ({sched_end})")
    elif length is not None and meta.lr_schedule is not None and meta.lr_schedule.steps and is_number(new_len):
        if (
            any(m >= new_len for m in meta.lr_schedule.steps)
            and meta.lr_schedule.by_epoch is not False
            and length.param == "max_epochs"
        ):
            out.append(f"the plan shortens the run to {new_len} but keeps milestones {list(meta.lr_schedule.steps)}")
    warm = changes.get("warmup_iters")
    total = total_iters(meta)
    if length is not None and is_number(new_len) and meta.iters_per_epoch and length.param == "max_epochs":
        total = new_len * meta.iters_per_epoch
    if warm is not None and is_number(warm.to) and total and warm.to >= total:
        out.append(f"the plan's warmup ({warm.to}) is not inside the run ({int(total)} iterations)")
    return out
