"""layer-unstable: deep decoder layers are much noisier than shallow ones.

Noise is the robust row-to-row scatter of a layer's loss around its rolling median
(`bevlog.smooth.residual_noise`, absolute, not relative: deep layers have lower losses, so
their relative scatter grows a little in healthy runs — about 1.2× in absolute terms on the
real DETR3D and Conditional-DETR logs). Final-layer scatter ≥2× the first layer's over the
second half of the run points at unstable refinement or an lr too high for the deep layers.
A log of one row per epoch (a DETR log.txt) is not judged: a row is a whole epoch's mean, and the
scatter of such means is not the row-to-row noise the ratio was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog import fixes
from bevlog.rules._common import doc, finding, fmt, lower_lr_fix, signals
from bevlog.rules._layers import describe_group, late_series, mature
from bevlog.smooth import residual_noise

RULE_ID = "layer-unstable"
SUMMARY = "the final decoder layer's loss scatters ≥2× more than the first layer's"


@dataclass(frozen=True)
class Thresholds:
    window_frac: float = doc(0.5, "fraction of the post-warmup run (the end) looked at")
    ratio: float = doc(2.0, "final-layer scatter ≥ this × first-layer scatter is unstable")
    median_window: int = doc(9, "rows in the rolling median the scatter is measured around")
    min_rows: int = doc(20, "rows needed per layer")
    lr_divisor: float = doc(fixes.LAYER_UNSTABLE_LR_DIVISOR, "suggested lr = base lr / this")

    min_progress: float = doc(
        0.2,
        "judge only once this fraction of the planned training is logged (early on the layers have not separated yet)",
    )


def find_layer_unstable(run, th: Thresholds = Thresholds()):
    if not mature(run, th.min_progress) or signals(run).step_unit == "epoch":
        return []  # (a row that is a whole epoch's mean has no row-to-row noise left to compare)
    series = late_series(run, th.window_frac)
    if not len(series):
        return []
    sig = signals(run)
    worst = None
    for group, term in dict.fromkeys((g, t) for g, t, _ in series.columns):
        layers = sorted(layer for g, t, layer in series.columns if (g, t) == (group, term))
        if len(layers) < 2:
            continue
        first = series[(group, term, layers[0])].to_numpy(dtype=float)
        final = series[(group, term, layers[-1])].to_numpy(dtype=float)
        first, final = first[np.isfinite(first)], final[np.isfinite(final)]
        if len(first) < th.min_rows or len(final) < th.min_rows:
            continue
        n0, nf = residual_noise(first, th.median_window), residual_noise(final, th.median_window)
        if not (np.isfinite(n0) and np.isfinite(nf)) or n0 <= 0:
            continue
        r = nf / n0
        if r >= th.ratio and (worst is None or r > worst[0]):
            worst = (r, group, term, int(layers[0]), int(layers[-1]), n0, nf)
    if worst is None:
        return []
    r, group, term, l0, lf, n0, nf = worst
    n = len(sig.step)
    lo = max(sig.warmup_end_row, n - max(5, int((n - sig.warmup_end_row) * th.window_frac)))
    message = (
        f"decoder layer {lf}'s {term} loss{describe_group(group)} scatters ±{fmt(nf)} row to row, "
        f"{r:.1f}× layer {l0}'s ±{fmt(n0)}: the deep layers train unstably"
    )
    evidence = {"group": group, "term": term, "noise_first": n0, "noise_final": nf, "ratio": r}
    changes = lower_lr_fix(run, sig, th.lr_divisor, "half the run's lr")
    advice = "check the refinement between layers (detach reference points per layer)"
    return [finding(run, RULE_ID, "warning", sig, lo, n - 1, message, evidence, advice, changes)]
