"""Cross-attention statistics of a DETR decoder: one definition for bevdetr and for users' runs.

What is logged, per decoder layer k (numbered from 0, the last layer included):

- `d{k}.attn_entropy`: the entropy of each query's attention distribution over the keys it may
  attend to, divided by log(number of those keys) — 1 is uniform attention, 0 is every query
  looking at one key — averaged over the measured queries, heads and samples. Keys a
  `key_padding_mask` or `attn_mask` hides count neither in the distribution nor in the log.
- `d{k}.attn_logit_max`: the largest |q·k/√d| over the measured queries, heads, samples and the
  keys they may attend to.

This module holds only the names (no torch import: parsers and rules read them);
`attnstats.measure` computes the statistics from attention logits (torch), and
`attnstats.recorder` measures `torch.nn.MultiheadAttention` modules while a model trains
(the user hooks in `bevlog.hooks`). bevdetr logs its own decoder through `attnstats.measure`.
"""

from __future__ import annotations

import re

TERMS = ("attn_entropy", "attn_logit_max")
ENTROPY, LOGIT_MAX = TERMS
# `d3.attn_entropy` -> layer 3, term attn_entropy; logs written before the names were unified
# (bevdetr until this package) name the last layer without the prefix: `attn_entropy`
KEY = re.compile(r"^(?:d(?P<layer>\d+)\.)?(?P<term>attn_entropy|attn_logit_max)$")


def key_names(layer: int) -> tuple[str, str]:
    """(`d{layer}.attn_entropy`, `d{layer}.attn_logit_max`)."""
    return f"d{layer}.{ENTROPY}", f"d{layer}.{LOGIT_MAX}"


__all__ = ["TERMS", "ENTROPY", "LOGIT_MAX", "KEY", "key_names"]
