"""layer-flat: all decoder layers have the same loss while the loss has stopped falling.

Early in training every layer predicts roughly the mean box and their losses coincide; that
is normal. When they still coincide (spread < 2%) in the last fifth of the run and the final
layer's loss moved < 1% over it, the decoder is not refining anything: the run sits on the
"predict the mean" plateau. Denoising/encoder groups are skipped; a head whose loss is 0
(frozen) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bevlog.recipes import lr_reference
from bevlog.rules._common import doc, finding, fmt, signals
from bevlog.rules._layers import (
    describe_group,
    is_auxiliary_group,
    late_group_sums,
    late_layers,
    mature,
)
from bevlog.schedule import lr_scale

RULE_ID = "layer-flat"
SUMMARY = "every decoder layer has the same loss (spread <2%) while that loss has plateaued"


@dataclass(frozen=True)
class Thresholds:
    window_frac: float = doc(0.2, "fraction of the post-warmup run (the end) looked at")
    spread: float = doc(0.02, "(max − min) / mean of the per-layer losses below this is flat")
    plateau: float = doc(0.01, "relative fall of the final layer's loss across the window below this is a plateau")
    min_layers: int = doc(3, "decoders with fewer layers are not judged")
    min_value: float = doc(1e-3, "per-layer loss below this (a frozen head) is not judged")
    min_progress: float = doc(
        0.2,
        "judge only once this fraction of the planned training is logged (early on every layer predicts the mean box)",
    )


def find_layer_flat(run, th: Thresholds = Thresholds()):
    window = late_layers(run, th.window_frac)
    sums = late_group_sums(run, th.window_frac)
    if not len(sums):
        return []
    sig = signals(run)
    if not mature(run, th.min_progress):
        return []
    for group, row in sums.iterrows():
        row = row.dropna()
        if is_auxiliary_group(group) or len(row) < th.min_layers or row.mean() < th.min_value:
            continue
        spread = float((row.max() - row.min()) / row.mean())
        if spread >= th.spread:
            continue
        final = window[(window["group"] == group) & (window["layer"] == row.index[-1])]
        per_step = final.groupby("step")["value"].sum().sort_index().to_numpy()
        if len(per_step) < 4:
            continue
        q = max(2, len(per_step) // 4)
        fall = 1 - np.median(per_step[-q:]) / np.median(per_step[:q])
        if fall >= th.plateau:
            continue
        n = len(sig.step)
        lo = max(sig.warmup_end_row, n - max(5, int((n - sig.warmup_end_row) * th.window_frac)))
        message = (
            f"all {len(row)} decoder layers{describe_group(group)} have the same loss "
            f"({fmt(row.min())}–{fmt(row.max())}, spread {spread:.1%}) and it fell only {fall:.1%} "
            f"over the last part of the run: the decoder does not refine, the run sits on a plateau"
        )
        evidence = {
            "group": group,
            "spread": spread,
            "fall": float(fall),
            "per_layer": {str(int(k)): float(v) for k, v in row.items()},
        }
        fix = (
            "check the reference-point refinement and the query/key position encodings; "
            "overfit one batch to see whether the decoder can learn at all" + _lr_words(run)
        )
        return [finding(run, RULE_ID, "warning", sig, lo, n - 1, message, evidence, fix, [])]
    return []


def _lr_words(run) -> str:
    """What the lr has to do with it, only as far as a grounded reference says (never a guess that
    another rule contradicts)."""
    ref = lr_reference(run.meta)
    if ref is None or not run.meta.lr:
        return ""
    ratio = ref.ratio(run.meta.lr * lr_scale(run.meta).factor)
    if ratio > 1.5:
        return f"; the lr is {ratio:.2g}× above {ref.short} (see lr-batch): a too-high lr stalls a decoder too"
    if ratio < 0.5:
        return f"; the lr is {1 / ratio:.2g}× below {ref.short} (see lr-batch)"
    return ""
