"""layer-redundant: the late decoder layers are no better than an early one — depth is wasted.

Per group (terms summed), medians over the last fifth of the run: find the earliest layer
whose loss is within 1% of the final layer's. In healthy 6-layer DETRs that is layer 3 or 4
(the last layers add ~1%); when it is in the first half of the stack (and layer 0 is worse,
otherwise every layer is equal — see layer-flat), the layers after it do nothing and a
shallower decoder would do.
"""

from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import change, doc, finding, fmt, signals
from bevlog.rules._layers import (
    describe_group,
    is_auxiliary_group,
    late_group_sums,
    mature,
)

RULE_ID = "layer-redundant"
SUMMARY = "an early decoder layer is already within 1% of the final one: fewer layers would do"


@dataclass(frozen=True)
class Thresholds:
    window_frac: float = doc(0.2, "fraction of the post-warmup run (the end) looked at")
    tolerance: float = doc(0.01, "a layer within this of the final layer's loss is as good as it")
    min_gain: float = doc(
        0.03,
        "layer 0 must be at least this much worse than the final layer (otherwise the layers are flat, not redundant)",
    )
    min_layers: int = doc(3, "decoders with fewer layers are not judged")
    min_progress: float = doc(
        0.4,
        "judge only once this fraction of the planned training is logged "
        "(layers separate late); runs without a plan are judged as they are",
    )


def find_layer_redundant(run, th: Thresholds = Thresholds()):
    sums = late_group_sums(run, th.window_frac)
    if not len(sums):
        return []
    sig = signals(run)
    if not mature(run, th.min_progress):
        return []
    for group, row in sums.iterrows():
        row = row.dropna()
        L = len(row)
        if is_auxiliary_group(group) or L < th.min_layers:
            continue
        values = row.to_numpy(dtype=float)
        final = values[-1]
        if final <= 0 or values[0] < final * (1 + th.min_gain):
            continue
        k = next(i for i, v in enumerate(values) if v <= final * (1 + th.tolerance))
        if k + 1 > L // 2:
            continue
        n = len(sig.step)
        lo = max(sig.warmup_end_row, n - max(5, int((n - sig.warmup_end_row) * th.window_frac)))
        gain = 1 - final / values[k]
        message = (
            f"decoder layer {int(row.index[k])}'s loss{describe_group(group)} ({fmt(values[k])}) is already "
            f"within {gain:.1%} of the final layer's ({fmt(final)}): the last {L - k - 1} of {L} "
            f"layers add nothing, {k + 1} would do"
        )
        evidence = {
            "group": group,
            "per_layer": {str(int(i)): float(v) for i, v in row.items()},
            "good_enough_layer": int(row.index[k]),
            "gain_after": float(gain),
        }
        return [
            finding(
                run,
                RULE_ID,
                "info",
                sig,
                lo,
                n - 1,
                message,
                evidence,
                "check the validation metric on the shorter decoder",
                [change(run, "num_decoder_layers", k + 1, L, "the later layers add nothing")],
            )
        ]
    return []
