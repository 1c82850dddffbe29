"""aux-missing: a multi-layer decoder trained without auxiliary (per-layer) losses.

DETR-family decoders are trained with a loss on every layer's prediction (mmdet logs them as
`dK.loss_X`, the final layer unprefixed; DETR, Deformable DETR and DINO all do). Fires only when
the run says how many decoder layers it has (from the config), trained rows, and no
intermediate-layer loss is logged. A single-layer head (TransFusion's `layer_-1` losses in
BEVFusion) has nothing to miss.

It is a config finding, so its severity follows the outcome: a warning only when the run went
poorly; when the run went well without them (bevdetr's aux-off runs ended level with or above the
aux-on ones at 6 layers, docs/experiments.md) the finding is a note that says the run's own
evidence does not bear the premise out.
"""

from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import AUX_KEY, change, doc, finding, outcome, signals
from parsers import is_stats_group, logged_layer_counts

RULE_ID = "aux-missing"
SUMMARY = "a decoder with ≥2 layers logs no intermediate-layer (dK.) losses: auxiliary losses are off"


@dataclass(frozen=True)
class Thresholds:
    min_layers: int = doc(2, "decoders with at least this many layers should have auxiliary losses")


def find_aux_missing(run, th: Thresholds = Thresholds()):
    meta = run.meta
    n_layers = meta.num_decoder_layers
    if not isinstance(n_layers, int) or n_layers < th.min_layers:
        return []
    sig = signals(run)
    if len(sig.t) == 0:
        return []

    counts = {g: n for g, n in logged_layer_counts(run).items() if not is_stats_group(g)}  # losses only
    logged_layers = max(counts.values(), default=0)
    # intermediate-layer *losses*: `d0.attn_entropy` (attention statistics) is no aux loss
    has_aux_columns = any(AUX_KEY.search(str(c)) and "loss" in str(c) for c in sig.t.columns)
    if logged_layers >= 2 or has_aux_columns or meta.has_aux_loss is True:
        return []
    out = outcome(run)
    message = (
        f"the decoder has {n_layers} layers but only the final layer's losses are logged: auxiliary losses are off"
    )
    good = out.good_text()
    if out.poor:
        severity = "warning"
        message += "; the DETR-family recipes train every layer with its own loss, and this run went poorly"
    elif good:
        severity = "info"
        message += f"; this run went well without them ({good}), so its own evidence does not call for them"
    else:
        severity = "info"
        message += "; the DETR-family recipes train every layer with its own loss"
    evidence = {
        "num_decoder_layers": n_layers,
        "has_aux_loss": meta.has_aux_loss,
        "layers_logged": logged_layers,
        "outcome_poor": out.poor,
    }
    return [
        finding(
            run,
            RULE_ID,
            severity,
            sig,
            None,
            None,
            message,
            evidence,
            "a loss on every layer's prediction",
            [change(run, "aux_loss", True, False)],
            "auxiliary decoder losses are off",
        )
    ]
