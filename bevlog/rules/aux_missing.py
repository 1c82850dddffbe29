"""aux-missing: a multi-layer decoder trained without auxiliary (per-layer) losses.

DETR-family decoders need a loss on every layer's prediction (mmdet logs them as `dK.loss_X`,
the final layer unprefixed); without them a 6-layer decoder often never learns to detect.
Fires only when the run says how many decoder layers it has (from the config) and no
intermediate-layer loss is logged. A single-layer head (TransFusion's `layer_-1` losses in
BEVFusion) has nothing to miss.
"""
from __future__ import annotations

from dataclasses import dataclass

from bevlog.rules._common import AUX_KEY, doc, finding, signals

RULE_ID = "aux-missing"
SUMMARY = "a decoder with ≥2 layers logs no intermediate-layer (dK.) losses: auxiliary losses are off"


@dataclass(frozen=True)
class Thresholds:
    min_layers: int = doc(2, "decoders with at least this many layers should have auxiliary losses")


def find_aux_missing(run, th: Thresholds = Thresholds()):
    meta = run.meta
    n_layers = meta.get("num_decoder_layers")
    if not isinstance(n_layers, int) or n_layers < th.min_layers:
        return []
    sig = signals(run)
    if len(sig.t) == 0:
        return []
    from parsers import is_stats_group, logged_layer_counts

    counts = {g: n for g, n in logged_layer_counts(run).items() if not is_stats_group(g)}  # losses only
    logged_layers = max(counts.values(), default=0)
    # intermediate-layer *losses*: `d0.attn_entropy` (attention statistics) is no aux loss
    has_aux_columns = any(AUX_KEY.search(str(c)) and "loss" in str(c) for c in sig.t.columns)
    if logged_layers >= 2 or has_aux_columns or meta.get("has_aux_loss") is True:
        return []
    message = (f"the decoder has {n_layers} layers but only the final layer's losses are logged: "
               f"auxiliary losses are off, and deep DETR decoders rarely learn without them")
    evidence = {"num_decoder_layers": n_layers, "has_aux_loss": meta.get("has_aux_loss"),
                "layers_logged": logged_layers}
    fix = "turn the auxiliary decoder losses back on (a loss on every layer's prediction)"
    return [finding(run, RULE_ID, "warning", sig, None, None, message, evidence, fix,
                    [{"param": "aux_loss", "from": False, "to": True}])]
