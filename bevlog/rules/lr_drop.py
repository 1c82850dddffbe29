"""lr-drop: lr step changes (step decay, restarts), what the loss did across each, and what the
evaluations say about it.

Steps are changes of the logged lr (param group 0 only) that the schedule model
(bevlog/schedule.py) classifies as events: a fall of a step schedule, or a rise after warmup
(a warm restart). Not events, never reported: the warmup ramp, a cyclic / OneCycle climb, a
cosine or poly curve sampled once per epoch (mmcv's default `by_epoch=True` makes its lr a
staircase whose late treads fall by 30-70%), the 5-decimal rounding of mmcv's .log.json, and
an lr that differs across a resume boundary.

A loss drop right after a step is partly the schedule's doing: the lr fell, so the noise
floor fell. Whether the model improved is for the evaluations to say: the headline metric
before and after the step, against its pace before it. Only when the evaluations do not
improve is the drop called "not model improvement"; without evaluations on both sides the
finding says that nobody can tell. A metric that rises faster after the step is not credited to
the step either: a model in the middle of taking off speeds up by itself (bevdetr: the seeds
without the step ended higher), and only a control run can separate the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.evaluations import headline_series
from bevlog.rules._common import doc, finding, fmt, pct, signals, where
from bevlog.schedule import lr_changes

RULE_ID = "lr-drop"
SUMMARY = "lr steps and restarts, with the loss change and the evaluations across each"


@dataclass(frozen=True)
class Thresholds:
    drop_ratio: float = doc(0.7, "a row whose lr is ≤ this × the previous (flat) lr is a step")
    rise_ratio: float = doc(1.5, "a row whose lr is ≥ this × the previous after warmup is a restart")
    rows: int = doc(5, "rows on each side of the step compared (medians)")
    moved: float = doc(0.02, "a loss change at least this large is attributed to the step")
    metric_tol: float = doc(0.02, "a metric change smaller than this fraction of its best is no change")


def find_lr_drop(run, th: Thresholds = Thresholds()):
    sig = signals(run)
    events = [c for c in lr_changes(sig, sig.schedule, th.drop_ratio, th.rise_ratio) if c.kind in ("step", "restart")]
    if not events:
        return []

    series = headline_series(run)
    out = []
    for ch in events:
        i = ch.row
        before = sig.loss[max(0, i - th.rows) : i]
        after = sig.loss[i : i + th.rows]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        change = (
            float(np.median(after) / np.median(before) - 1)
            if len(before) and len(after) and np.median(before) > 0
            else float("nan")
        )
        within = sig.steps(sig.step[min(i + th.rows - 1, len(sig.step) - 1)] - sig.step[i - 1] if i > 0 else 0)
        is_drop = ch.kind == "step"
        loss_fell = bool(np.isfinite(change) and change <= -th.moved)
        here_step, here_epoch = _change_point(sig, i)
        evals = _evals_around(series, here_step, here_epoch, loss_fell, th) if is_drop else None
        if not np.isfinite(change):
            loss_text = "the loss around it is not logged"
        elif is_drop and change <= -th.moved:
            loss_text = f"the loss fell {-change:.1%} within {within}"
        elif not is_drop and change >= th.moved:
            loss_text = f"the loss rose {change:.1%} within {within}: expected after a restart"
        elif abs(change) < th.moved:
            loss_text = f"the loss barely moved ({pct(change)} within {within})"
        else:
            loss_text = f"the loss moved {pct(change)} within {within}, against the step"
        message = f"lr {fmt(ch.before)} → {fmt(ch.after)} at {where(sig, i)}; {loss_text}"
        evidence = {
            "lr_before": ch.before,
            "lr_after": ch.after,
            "loss_change": change,
            "kind": "step" if is_drop else "restart",
            "step": int(sig.step[i]),
        }
        fix = "compare checkpoints at a matched lr phase (both before or both after the step), not across it"
        if is_drop and evals is None and np.isfinite(change) and change <= -th.moved:
            message += "; no evaluation on both sides of it says whether the model improved"
        elif evals is not None:
            text, verdict, numbers = evals
            message += f"; {text}"
            evidence.update(numbers, metric_verdict=verdict)
        out.append(finding(run, RULE_ID, "info", sig, i, i, message, evidence, fix, []))
    return out


def _change_point(sig, i: int) -> tuple[float, float]:
    """(step, epoch) where the lr change arriving at row i took effect. A logged row of iterations
    holds the lr at its own iteration; a row that is a whole epoch (a DETR log.txt) holds the epoch
    that ended at its step, trained from its start at the new lr: the change took effect where the
    row before ended, so the evaluation stamped with that row's own step is already after it."""
    step, epoch = float(sig.step[i]), float(sig.epoch_f[i])
    if sig.step_unit == "epoch":
        return step - 1, epoch - 1
    return step, epoch


def _evals_around(series, step: float, epoch: float, loss_fell: bool, th):
    """(sentence, 'rose faster' | 'improved' | 'no improvement', numbers) from the evaluations just
    before and just after the step, against the pace of the evaluations before it; None
    without an evaluation on each side."""
    if series is None or len(series) < 2:
        return None
    use_step = np.isfinite(series.step).all() and np.isfinite(step)
    at = series.step if use_step else series.epoch
    here = step if use_step else epoch
    if not np.isfinite(here):
        return None
    before = np.flatnonzero(at <= here)
    after = np.flatnonzero(at > here)
    if not len(before) or not len(after):
        return None
    b, a = int(before[-1]), int(after[0])
    v_before, v_after = float(series.value[b]), float(series.value[a])
    gain = v_after - v_before
    pace = float(series.value[b] - series.value[b - 1]) if b >= 1 else float("nan")
    tol = th.metric_tol * max(series.best, 1e-12)
    name = series.name.split("/")[-1]
    head = f"{name} {v_before:.4g} → {v_after:.4g} across it ({gain:+.3g}"
    if np.isfinite(pace):
        head += f"; {pace:+.3g} over the evaluation before"
    head += ")"
    if gain <= tol:
        verdict = "no improvement"
        tail = (
            "the evaluations did not improve: the loss drop is the schedule's, not model improvement"
            if loss_fell
            else "the evaluations did not improve"
        )
    elif not np.isfinite(pace) or gain > max(pace, 0) + tol:
        # not "the step helped": a model taking off speeds up by itself, and in bevdetr's seeded sweep
        # the seeds without the step ended higher (docs/experiments.md, the lr step)
        verdict = "rose faster"
        tail = (
            "the metric rose faster than before; whether the step did that or the model was "
            "speeding up by itself, only a run without the step can say"
        )
    else:
        # a learning curve flattens by itself: a slower gain after the step does not say the step
        # did nothing, only a run without the step can (bevdetr base vs base-nostep: 0.624 vs 0.561)
        verdict = "improved"
        tail = "the evaluations improved across it: the model got better, not only the loss"
    numbers = {
        "metric": series.name,
        "metric_before": v_before,
        "metric_after": v_after,
        "metric_pace_before": pace if np.isfinite(pace) else None,
    }
    return f"{head}: {tail}", verdict, numbers
