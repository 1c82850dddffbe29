"""Cross-attention statistics of a DETR decoder, measured while it trains (torch only).

What it records, per decoder layer k (keys `d{k}.attn_entropy`, `d{k}.attn_logit_max`, every
layer numbered from 0, the last one included):

- `attn_entropy`: the entropy of each query's attention distribution over the keys, divided
  by log(number of keys) — 1 is uniform attention, 0 is every query looking at one key —
  averaged over queries and heads.
- `attn_logit_max`: the largest |q·k/√d| over queries, keys and heads.

A collapse of the decoder under too high an lr shows here first: the logits grow by orders of
magnitude and the entropy falls toward 0 while the loss has not turned yet and grad_norm looks
normal (see docs/experiments.md and the `attention-collapse` rule).

How: a forward pre-hook on every `torch.nn.MultiheadAttention` that is a decoder
cross-attention recomputes the logits of the first sample of the batch from the module's own
input projections (exactly what the module computes; no change to its output). Only
`nn.MultiheadAttention` is measured — mmcv's and mmengine's `MultiheadAttention` wrappers and
PETR's `PETRMultiheadAttention` use it inside. Attention implementations that never form the
attention matrix expose nothing to measure: flash attention (`FlashMHA` in StreamPETR/PETR's
`flash_attn` configs), `F.scaled_dot_product_attention` calls of a model's own, and
deformable attention (Deformable-DETR, DINO, BEVFormer's spatial cross-attention, which
sample points instead of attending over all keys). For those `install` returns no layers
and the hooks say so once in the log.

Which attentions are the decoder's cross-attentions: modules whose name contains "decoder";
a module named `cross_attn`, or the attentions of a layer whose `operation_order` marks them
`cross_attn` (mmcv's BaseTransformerLayer); failing names, at run time, an attention whose
keys are not its queries (a different length). The layer index is the number after `layers.`.
"""
from __future__ import annotations

import math
import re

LAYER_INDEX = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")
KEYS = ("attn_entropy", "attn_logit_max")


def key_names(layer: int) -> tuple[str, str]:
    return tuple(f"d{layer}.{k}" for k in KEYS)


def cross_attentions(model) -> list[tuple[int, object]]:
    """[(decoder layer index, nn.MultiheadAttention)] of the model's decoder cross-attentions,
    or of every decoder attention whose role cannot be told from names (decided at run time)."""
    from torch import nn

    named = dict(model.named_modules())
    found = []
    for name, module in named.items():
        if not isinstance(module, nn.MultiheadAttention) or "decoder" not in name:
            continue
        m = LAYER_INDEX.search(name)
        if not m:
            continue
        role = _role(name, named)
        if role == "self":
            continue
        found.append((int(m.group(1)), module, role))
    has_named_cross = any(role == "cross" for _, _, role in found)
    return [(k, mod) for k, mod, role in found if role == "cross" or not has_named_cross]


def _role(name: str, named: dict) -> str:
    """'cross', 'self' or 'unknown' from the module path."""
    parts = name.split(".")
    if "cross_attn" in parts:
        return "cross"
    if "self_attn" in parts:
        return "self"
    if "attentions" in parts:  # mmcv BaseTransformerLayer: attentions[j] in operation_order
        i = parts.index("attentions")
        layer = named.get(".".join(parts[:i]))
        order = getattr(layer, "operation_order", None)
        if order and i + 1 < len(parts) and parts[i + 1].isdigit():
            kinds = [op for op in order if op in ("self_attn", "cross_attn")]
            j = int(parts[i + 1])
            if j < len(kinds):
                return "cross" if kinds[j] == "cross_attn" else "self"
    return "unknown"


def attention_logits(module, query, key):
    """q·k/√d of `module` (an nn.MultiheadAttention) for the first sample: (heads, L, S).

    query (L, B, E) or (B, L, E) when `module.batch_first`; key likewise with S keys. The
    module's own input projections, so softmax over S gives the module's attention weights.
    """
    import torch

    with torch.no_grad():
        q, k = (query[0], key[0]) if module.batch_first else (query[:, 0], key[:, 0])
        heads, e = module.num_heads, module.embed_dim
        if module._qkv_same_embed_dim:
            wq, wk = module.in_proj_weight[:e], module.in_proj_weight[e:2 * e]
        else:
            wq, wk = module.q_proj_weight, module.k_proj_weight
        bq = bk = None
        if module.in_proj_bias is not None:
            bq, bk = module.in_proj_bias[:e].float(), module.in_proj_bias[e:2 * e].float()
        qp = torch.nn.functional.linear(q.float(), wq.float(), bq)
        kp = torch.nn.functional.linear(k.float(), wk.float(), bk)
        d = e // heads
        qh = qp.reshape(qp.shape[0], heads, d).transpose(0, 1)  # (H, L, d)
        kh = kp.reshape(kp.shape[0], heads, d).transpose(0, 1)  # (H, S, d)
        return qh @ kh.transpose(1, 2) / math.sqrt(d)


def attention_stats(module, query, key) -> tuple[float, float] | None:
    """(normalised entropy, max |logit|) of `module`'s attention for the first sample, or
    None when there is a single key (nothing to spread attention over)."""
    import torch

    logits = attention_logits(module, query, key)
    s = logits.shape[-1]
    if s < 2:
        return None
    logp = torch.log_softmax(logits, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1) / math.log(s)
    return float(entropy.mean()), float(logits.abs().max())


class AttentionRecorder:
    """Installs the pre-hooks and keeps the latest statistics until `pop()`.

    recorder = AttentionRecorder(); layers = recorder.install(model)
    ... model trains one iteration ...
    stats = recorder.pop()   # {'d0.attn_entropy': 0.83, 'd0.attn_logit_max': 4.1, ...}
    """

    def __init__(self):
        self.latest: dict[str, float] = {}
        self.handles = []
        self.enabled = True

    def install(self, model) -> list[int]:
        """Hook the decoder cross-attentions; returns the layer indices measured."""
        layers = []
        for index, module in cross_attentions(model):
            self.handles.append(module.register_forward_pre_hook(self._hook(index), with_kwargs=True))
            layers.append(index)
        return sorted(set(layers))

    def install_on_runner(self, runner) -> list[int]:
        """`install` on an mmcv / mmengine runner's model (DDP unwrapped), saying in the run's log
        which layers are measured, or that none could be."""
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        layers = self.install(model)
        if layers:
            runner.logger.info(f"AttentionStatsHook: measuring decoder cross-attention of layers {layers}")
        else:
            runner.logger.warning("AttentionStatsHook: no nn.MultiheadAttention cross-attention found in "
                                  "the decoder (flash or deformable attention expose nothing to measure)")
        return layers

    def _hook(self, index: int):
        def hook(module, args, kwargs):
            if not (self.enabled and module.training):
                return None
            query = kwargs.get("query", args[0] if args else None)
            key = kwargs.get("key", args[1] if len(args) > 1 else query)
            if query is None or key is None:
                return None
            if key is query or _same_tensor(key, query):
                return None  # self-attention through a module whose role names did not tell
            stats = attention_stats(module, query, key)
            if stats is not None:
                entropy_key, logit_key = key_names(index)
                self.latest[entropy_key], self.latest[logit_key] = stats
            return None

        return hook

    def pop(self) -> dict[str, float]:
        out, self.latest = self.latest, {}
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def _same_tensor(key, query) -> bool:
    """Keys equal to the queries (self-attention): not measured."""
    import torch

    return key.shape == query.shape and bool(torch.equal(key, query))
