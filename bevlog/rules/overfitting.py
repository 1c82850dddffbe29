"""overfitting: the validation metric falls in ≥2 evaluations while the train loss keeps falling.

The headline metric is picked by name (NDS, then mAP; higher is better). It fires when the
last evaluations are all below the best one, the metric fell from one evaluation to the
next at least twice after the best, the last is ≥2% below the best, and the smoothed train
loss kept falling over the same span. A dip that recovers later is noise, not overfitting, and
so is a metric that never left chance (a peak of 0.001 is not a peak).

A metric evaluated often scatters from one evaluation to the next (AP ±0.01–0.03 on a small
validation set, every epoch of a 300-epoch DETR): its single best evaluation is a high draw of
that scatter, and "fell from the best" is then only the scatter. So the fall is measured between
the metric's rolling median at its peak and at its end, and must exceed `noise_k` times the
metric's own evaluation-to-evaluation scatter (`residual_noise`, over its last two thirds). An EMA
twin of the metric (`ema/AP` beside `AP`: the model RF-DETR, DINO and YOLO keep) that ends within
that scatter of its best says the model kept did not fall. The fix shortens the run to the best
evaluation; the plan moves the lr milestones with it (bevlog.fixes.check_plan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bevlog.evaluations import chance_level, pick
from bevlog.rules._common import change, doc, epoch_words, finding, fmt, rolling_median, signals
from bevlog.smooth import residual_noise

RULE_ID = "overfitting"
SUMMARY = "validation metric falls in ≥2 evaluations after its best while the train loss keeps falling"


@dataclass(frozen=True)
class Thresholds:
    min_falls: int = doc(2, "evaluations after the best at which the metric fell from the previous one")
    min_drop: float = doc(0.02, "the last evaluation must be this fraction below the best")
    train_fall: float = doc(
        0.01, "the smoothed train loss must fall at least this much from the best evaluation to the last"
    )
    smooth_evals: int = doc(5, "evaluations in the rolling median the peak and the end are read from")
    noise_k: float = doc(3.0, "the smoothed fall must be at least this many times the metric's own scatter")
    min_noise_evals: int = doc(6, "evaluations needed to measure the scatter (fewer: the fall is not weighed)")


def find_overfitting(run, th: Thresholds = Thresholds()):
    ev = run.evals
    if ev is None or len(ev) == 0:
        return []
    metric = pick([m for m in ev["metric"].unique() if isinstance(m, str)])
    if metric is None:
        return []
    m = ev[ev["metric"] == metric].copy()
    m["value"] = pd.to_numeric(m["value"], errors="coerce")
    m = m[np.isfinite(m["value"])].sort_values(["step", "epoch"], kind="stable")
    m = m.drop_duplicates("step", keep="last") if m["step"].notna().all() else m
    values = m["value"].to_numpy(dtype=float)
    if len(values) < 3:
        return []
    best = int(np.argmax(values))
    if values[best] <= chance_level(metric, values):
        return []  # a metric at chance has no peak to fall from
    after = values[best:]
    falls = int((np.diff(after) < 0).sum())
    if len(after) < th.min_falls + 1 or falls < th.min_falls or values[-1] > values[best] * (1 - th.min_drop):
        return []
    fall, noise = _smoothed_fall(values, th)
    if fall is not None and (fall < th.min_drop * values[best] or (noise is not None and fall < th.noise_k * noise)):
        return []  # the fall is the metric's own scatter around a level it holds
    if _ema_holds(ev, metric, noise, th):
        return []
    sig = signals(run)
    if not len(sig.step):
        return []
    smooth = rolling_median(sig.loss, sig.window)
    s_best, s_last = m["step"].iloc[best], m["step"].iloc[-1]
    i_best = _row_at(sig.step, s_best)
    i_last = _row_at(sig.step, s_last)
    if i_best is None or i_last is None or i_last <= i_best:
        return []
    l_best, l_last = _near(smooth, i_best), _near(smooth, i_last)
    if not (np.isfinite(l_best) and np.isfinite(l_last)) or l_last > l_best * (1 - th.train_fall):
        return []
    e_best = m["epoch"].iloc[best]
    when = epoch_words(sig, e_best) if np.isfinite(e_best) and not sig.iter_runner else f"iter {int(s_best):,}"
    message = (
        f"{metric} peaked at {fmt(values[best])} ({when}) and fell in {falls} of the "
        f"{len(after) - 1} evaluations after it to {fmt(values[-1])} ({values[-1] / values[best] - 1:+.1%}), "
        f"while the train loss kept falling ({fmt(l_best)} → {fmt(l_last)})"
    )
    evidence = {
        "metric": metric,
        "best": float(values[best]),
        "best_step": float(s_best),
        "last": float(values[-1]),
        "falls": falls,
        "train_loss_best": float(l_best),
        "train_loss_last": float(l_last),
        "values": [float(v) for v in values],
        "smoothed_fall": fall,
        "scatter": noise,
    }
    if np.isfinite(e_best) and not sig.iter_runner:
        # epochs to train = the frames' epoch of the best evaluation (counted from 1, whatever the log counts)
        changes = [change(run, "max_epochs", int(e_best), run.meta.max_epochs, f"the best evaluation was at {when}")]
        fix = f"keep the {when} checkpoint, or add augmentation"
    else:
        changes = [change(run, "max_iters", int(s_best), run.meta.max_iters, f"the best evaluation was at {when}")]
        fix = f"keep the checkpoint at {when}, or add augmentation"
    return [
        finding(
            run,
            RULE_ID,
            "warning",
            sig,
            i_best,
            i_last,
            message,
            evidence,
            fix,
            changes,
            f"{metric} peaked at {when} and fell while the train loss kept falling",
        )
    ]


def _row_at(steps, s):
    if not np.isfinite(s) or not len(steps):
        return None
    i = int(np.searchsorted(steps, s, side="right")) - 1
    return max(0, min(i, len(steps) - 1))


def _near(x, i, k=3):
    seg = x[max(0, i - k) : i + 1]
    seg = seg[np.isfinite(seg)]
    return float(np.median(seg)) if len(seg) else float("nan")


def _smoothed_fall(values: np.ndarray, th) -> tuple[float | None, float | None]:
    """(the metric's rolling median at its peak minus at its end, its evaluation-to-evaluation
    scatter); (None, None) with too few evaluations to say."""
    if len(values) < th.min_noise_evals:
        return None, None
    smooth = rolling_median(values, th.smooth_evals)
    fall = float(np.nanmax(smooth) - smooth[-1])
    noise = residual_noise(values[len(values) // 3 :], th.smooth_evals)
    return fall, (float(noise) if np.isfinite(noise) and noise > 0 else None)


def _ema_holds(ev, metric: str, noise, th) -> bool:
    """An EMA twin of the metric (`ema/AP`, `ema_AP`) ends within the scatter of its own best."""
    names = {str(n).lower(): n for n in ev["metric"].unique() if isinstance(n, str)}
    twin = next((names[k] for k in (f"ema/{metric}".lower(), f"ema_{metric}".lower()) if k in names), None)
    if twin is None:
        return False
    e = ev[ev["metric"] == twin].sort_values(["step", "epoch"], kind="stable")
    v = pd.to_numeric(e["value"], errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return False
    tol = max(noise or 0.0, th.min_drop * float(v.max()) / 2)
    return bool(v.max() - v[-1] <= tol)
