"""metric-chance: the evaluation says the model detects nothing, or a metric component is no
better than a guess — whatever the loss does.

A falling loss is not learning to detect: a run whose detection metric (mAP, else NDS) sits
at chance at every evaluation after the first learned nothing that counts, and so did a run
whose metric fell far below its own earlier best. Both are errors. The loss decides only
the likely cause named in the fix: a loss that fell well points at the evaluation side
(class names or label ids that do not match, a test pipeline or box decoding that differs
from training); a loss that never fell points at the optimisation (see no-takeoff, lr-batch).

A nuScenes error component that stays at its chance level for the whole run while mAP is
clearly above chance is a warning: mAOE ≈ π/2 rad is what a uniformly random yaw scores, so the
orientation is not learned — most often a yaw or box coding convention that differs between the
targets and the decoder (sin/cos order, a −π/2 offset between mmdet3d versions, w/l swapped).
It weighs on the headline metric: NDS counts 1 − mAOE among its five error terms (a tenth of NDS
each), so an orientation at chance keeps NDS ~0.1 below what the same detections with learned yaw
would score.

While a log is still being written (`bevlog watch`), a metric at chance is not yet an error as
long as the loss is still falling: a DETR takes off late, and an early evaluation at chance is
what a run looks like before it does. It is a note then, saying so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bevlog.evaluations import CHANCE_MAP, CHANCE_NDS, DETECTION, pick
from bevlog.rules._common import doc, epoch_label, finding, fmt, rolling_median, signals

RULE_ID = "metric-chance"
SUMMARY = (
    "detection metric at chance (mAP/NDS ≈ 0) at every evaluation, or collapsed below its own best; "
    "a nuScenes component at its chance level"
)

# nuScenes true-positive error components with a known chance level (uniform random guess)
CHANCE_COMPONENTS = {
    r"(^|/)mAOE$": (
        math.pi / 2,
        "orientation",
        "a yaw or box-coding convention mismatch between the targets "
        "and the decoder (sin/cos order, a ±π/2 offset, w/l swapped)",
    ),
}


@dataclass(frozen=True)
class Thresholds:
    dead_map: float = doc(CHANCE_MAP, "mAP at or below this (as a fraction; ×100 on a percent scale) is chance")
    dead_nds: float = doc(
        CHANCE_NDS,
        "NDS at or below this is chance (NDS with no true positive is 0; a handful of matches gives 0.01–0.02)",
    )
    live_falling: float = doc(
        0.05,
        "live: the loss fell at least this much over the last third of the rows "
        "so far — still learning, too early to call the metric dead",
    )
    collapse_best: float = doc(0.05, "an earlier best at least this high (fraction) makes a fall a collapse")
    collapse_ratio: float = doc(0.2, "the last evaluation at or below this share of the earlier best is a collapse")
    loss_fell: float = doc(
        0.3,
        "a loss that fell at least this much (first rows → last rows) learned something: "
        "the evaluation side is the suspect",
    )
    component_tol: float = doc(0.10, "a component within this fraction of its chance level is at chance")
    component_min_map: float = doc(0.05, "mAP must be above this for a component at chance to be a separate fact")


def find_metric_chance(run, th: Thresholds = Thresholds(), live: bool = False):
    """`live`: the log is still being written; a metric at chance while the loss still falls is early."""
    ev = run.evals
    if ev is None or not len(ev):
        return []
    table = _Evals(ev, run.meta.epoch_base)
    out = []
    metric = table.pick(DETECTION)
    if metric is not None:
        out.extend(_dead_or_collapsed(run, table, metric, th, live))
    out.extend(_components(run, table, th))
    return out


class _Evals:
    """The evals frame as numpy arrays, read once per run."""

    def __init__(self, ev, epoch_base=None):
        self.epoch_base = epoch_base
        order = np.argsort(ev["step"].to_numpy(dtype=float), kind="stable")
        self.metric = ev["metric"].to_numpy(dtype=object)[order]
        self.value = ev["value"].to_numpy(dtype=float)[order]
        self.epoch = ev["epoch"].to_numpy(dtype=float)[order]
        self.step = ev["step"].to_numpy(dtype=float)[order]
        self.names = sorted({m for m in set(self.metric.tolist()) if isinstance(m, str)}, key=len)

    def pick(self, patterns):
        return pick(self.names, patterns)

    def series(self, metric):
        """(values, labels like 'epoch 3' / 'iter 1,500') of one metric's finite evaluations, in time order."""
        rows = (self.metric == metric) & np.isfinite(self.value)
        labels = [
            f"epoch {epoch_label(e, self.epoch_base)}"
            if np.isfinite(e)
            else (f"iter {int(s):,}" if np.isfinite(s) else "?")
            for e, s in zip(self.epoch[rows], self.step[rows])
        ]
        return self.value[rows], labels


def _dead_or_collapsed(run, table, metric, th, live=False):
    values, labels = table.series(metric)
    if not len(values):
        return []
    percent = 100.0 if np.nanmax(values) > 1.0 else 1.0
    nds = bool(re.search(r"(^|/)nds$", metric, re.IGNORECASE))
    dead_at = (th.dead_nds if nds else th.dead_map) * percent
    judged = values[1:] if len(values) >= 2 else values  # the first evaluation may come before any learning
    best_i = int(np.argmax(values))
    best, last = float(values[best_i]), float(values[-1])
    dead = bool(np.all(judged <= dead_at))
    collapsed = best_i < len(values) - 1 and best >= th.collapse_best * percent and last <= th.collapse_ratio * best
    if not (dead or collapsed):
        return []
    loss_note, loss_fell = _loss_trend(run, th)
    shown = ", ".join(f"{v:.4f}" for v in values[-8:]) + (" …" if len(values) > 8 else "")
    evidence = {"metric": metric, "values": [float(v) for v in values], "at": labels, "loss_fall": loss_fell}
    sig = signals(run)
    last_row = len(sig.step) - 1 if len(sig.step) else None

    if dead:
        severity = "error" if len(values) >= 2 else "warning"
        message = f"{metric} stayed at chance ({shown} at {_span(labels)}){loss_note}: the model detects nothing"
        evidence["kind"] = "dead"
        if live and _still_falling(sig, th):
            evidence["kind"] = "early"
            message = (
                f"{metric} is still at chance ({shown} at {_span(labels)}) while the loss is still falling: "
                f"too early to say — a DETR takes off late"
            )
            return [
                finding(
                    run,
                    RULE_ID,
                    "info",
                    sig,
                    None,
                    last_row,
                    message,
                    evidence,
                    "nothing to change yet; watch the next evaluations",
                    [],
                )
            ]
        return [
            finding(
                run,
                RULE_ID,
                severity,
                sig,
                None,
                last_row,
                message,
                evidence,
                _fix(run, loss_fell, th),
                [],
                f"{metric} stayed at chance: the model detects nothing",
            )
        ]

    message = (
        f"{metric} collapsed from {best:.4f} at {labels[best_i]} to {last:.4f} at {labels[-1]} "
        f"({last / best:.0%} of its best){loss_note}: the model stopped detecting"
    )
    evidence.update(kind="collapse", best=best, last=last)
    fix = (
        "look at what changed after the best evaluation (lr restart, resume with another config, "
        "a non-finite loss) and keep the best checkpoint"
    )
    return [
        finding(
            run,
            RULE_ID,
            "error",
            sig,
            None,
            last_row,
            message,
            evidence,
            fix,
            [],
            f"{metric} collapsed to {last / best:.0%} of its best",
        )
    ]


def _still_falling(sig, th) -> bool:
    """The loss fell at least `live_falling` over the last third of the rows logged so far."""
    smooth = rolling_median(sig.loss, sig.window)
    smooth = smooth[np.isfinite(smooth)]
    if len(smooth) < 6:
        return True  # too few rows to tell: early by definition
    third = smooth[-max(2, len(smooth) // 3) :]
    return bool(third[0] > 0 and 1 - third[-1] / third[0] >= th.live_falling)


def _loss_trend(run, th):
    """(' while the loss fell 74% (0.978, the median of its first three rows → 0.25)', 0.74): the
    first logged rows (their median: a first row is often far above the next) against the smoothed end
    of the run; the words say which number is a median, so a reader finds both in the log."""
    sig = signals(run)
    loss = sig.loss
    finite = loss[np.isfinite(loss)]
    if len(finite) < 6:
        return "", None
    smooth = rolling_median(loss, sig.window)
    tail = smooth[np.isfinite(smooth)]
    first = float(np.median(finite[:3]))
    last = float(np.median(tail[-max(2, len(tail) // 20) :]))
    if not first > 0:
        return "", None
    fell = 1 - last / first
    verb = f"fell {fell:.0%}" if fell > 0 else f"rose {-fell:.0%}"
    return f" while the loss {verb} ({fmt(first)}, the median of its first three rows → {fmt(last)})", fell


def _fix(run, loss_fell, th):
    if loss_fell is not None and loss_fell >= th.loss_fell:
        return (
            "the loss learns but the evaluation finds nothing: check that the class names / label ids the "
            "evaluation uses match the training annotations, that the test pipeline (scale, normalisation) "
            "and the box decoding match training, then evaluate a few training images"
        )
    # point at the rules that judge the optimisation by their explanation, not as findings of this run
    # (they may not have fired); lr-batch needs the config's lr and batch
    see = "how bevlog judges that: bevlog diagnose --explain no-takeoff"
    if run.meta.lr and run.meta.total_batch:
        see += ", --explain lr-batch"
    return (
        f"the model never started detecting: check that the pretrained weights loaded and that the annotations "
        f"reach the loss, overfit one batch, then lower the peak lr / lengthen warmup ({see})"
    )


def _components(run, table, th):
    map_name = table.pick(DETECTION[:3])
    map_values = table.series(map_name)[0] if map_name else np.array([])
    out = []
    for pattern, (chance, what, cause) in CHANCE_COMPONENTS.items():
        name = table.pick([pattern])
        if name is None:
            continue
        values, labels = table.series(name)
        if len(values) < 2 or not np.all(np.abs(values - chance) <= th.component_tol * chance):
            continue
        if not len(map_values) or np.nanmax(map_values) <= th.component_min_map:
            continue  # nothing is detected at all: the dead-metric finding says it
        sig = signals(run)
        message = (
            f"{name} stayed at {values.min():.2f}–{values.max():.2f} over all {len(values)} evaluations "
            f"({_span(labels)}), the {fmt(chance)} of a random guess, while {map_name} reached "
            f"{np.nanmax(map_values):.3f}: the {what} is not learned, and NDS (which counts 1 − {name.split('/')[-1]}) "
            f"stays about 0.1 below what the same detections would score with it"
        )
        evidence = {
            "kind": "component",
            "metric": name,
            "values": [float(v) for v in values],
            "chance": chance,
            "map": float(np.nanmax(map_values)),
        }
        out.append(
            finding(
                run,
                RULE_ID,
                "warning",
                sig,
                None,
                None,
                message,
                evidence,
                f"check for {cause}; a learned model scores well below {fmt(chance)}",
                [],
                f"the {what} is not learned ({name.split('/')[-1]} at chance)",
            )
        )
    return out


def _span(labels):
    return labels[0] if len(labels) == 1 else f"{labels[0]} – {labels[-1]}"
