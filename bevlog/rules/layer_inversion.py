"""layer-inversion: the final decoder layer's loss is worse than the first layer's.

Each decoder layer refines the previous one's boxes, so late in training the final layer's
loss should be the lowest. Final worse than layer 0 by ≥5% (medians over the last fifth of
the run, per loss term) means refinement hurts: broken reference-point updates, a detach in
the wrong place, or per-layer heads that are not trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import doc, finding, fmt, signals
from bevlog.rules._layers import describe_group, late_layers, layer_medians, mature

RULE_ID = "layer-inversion"
SUMMARY = "the final decoder layer's loss is ≥5% worse than the first layer's late in training"


@dataclass(frozen=True)
class Thresholds:
    window_frac: float = doc(0.2, "fraction of the post-warmup run (the end) the medians are taken over")
    margin: float = doc(0.05, "final ≥ (1 + margin) × first is an inversion")
    min_value: float = doc(1e-3, "losses below this are too small to compare")

    min_progress: float = doc(
        0.2,
        "judge only once this fraction of the planned training is logged (early on the layers have not separated yet)",
    )


def find_layer_inversion(run, th: Thresholds = Thresholds()):
    if not mature(run, th.min_progress):
        return []
    table = layer_medians(late_layers(run, th.window_frac))
    if not len(table):
        return []
    sig = signals(run)
    worst = None
    for (group, term), row in table.iterrows():
        row = row.dropna()
        first, final = float(row.iloc[0]), float(row.iloc[-1])
        if first < th.min_value:
            continue
        ratio = final / first
        if ratio >= 1 + th.margin and (worst is None or ratio > worst[0]):
            worst = (ratio, group, term, int(row.index[0]), int(row.index[-1]), first, final)
    if worst is None:
        return []
    ratio, group, term, l0, lf, first, final = worst
    n = len(sig.step)
    lo = max(sig.warmup_end_row, n - max(5, int((n - sig.warmup_end_row) * th.window_frac)))
    message = (
        f"final decoder layer {lf}'s {term} loss{describe_group(group)} is {fmt(final)}, "
        f"{ratio - 1:.0%} worse than layer {l0}'s {fmt(first)} over the last part of the run: "
        f"refinement makes the predictions worse"
    )
    evidence = {"group": group, "term": term, "first_layer": first, "final_layer": final, "ratio": ratio}
    fix = (
        "check the iterative refinement: reference points updated and detached per layer, "
        "and every layer's head trained (auxiliary losses on)"
    )
    return [finding(run, RULE_ID, "warning", sig, lo, n - 1, message, evidence, fix, [])]
