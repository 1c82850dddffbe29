"""Measure the cross-attentions of a DETR decoder while it trains (`torch.nn.MultiheadAttention`).

    recorder = AttentionRecorder(every=10)
    layers = recorder.install(model)     # the decoder cross-attentions it found, by layer index
    ... one training iteration ...
    stats = recorder.pop()               # {'d0.attn_entropy': 0.83, 'd0.attn_logit_max': 4.1, ...} or {}

What is measured (the names and their meaning: `attnstats`): every `every`-th training
iteration (counted by `pop`), for each hooked module, the logits q·k/√d recomputed without
gradient from the module's own input projections — exactly what its softmax sees, masks
included — for a sample of the call: the first `max_samples` samples of the batch, every
⌈L / max_queries⌉-th query, and **all** keys (a query's entropy needs its whole distribution,
so keys are never sampled; `key_padding_mask` and `attn_mask` decide which keys count).
Queries are processed in blocks of `block` so the transient memory stays at
heads × block × keys floats. Evaluation forwards (`module.training` False) are not measured.

How: the module's `forward` is wrapped on the instance (a bound method, so `copy.deepcopy` of
the model — EMA hooks — stays correct); this works on torch 1.9 and later alike, where a
forward pre-hook sees keyword arguments only from torch 2.0 on and mmcv passes query and key
by keyword. torch older than 1.9 (no `batch_first`) is refused at `install` with one line.

Which modules are decoder cross-attentions: those whose path contains "decoder" and a
`layers.<k>` index; a module named `cross_attn`, or the attentions of a layer whose
`operation_order` marks them `cross_attn` (mmcv's BaseTransformerLayer); failing names, at run
time, an attention whose keys are not its queries.
"""

from __future__ import annotations

import math
import re
import types

import torch
from torch import nn

from attnstats import key_names
from attnstats.measure import Tally

LAYER_INDEX = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")
MIN_TORCH = (1, 9)
# Measuring every 10th iteration keeps the cost under 2% of the attention module's own forward
# at PETR's size (900 queries x 6,000 keys): benchmarks/hook_overhead_bench.py, docs/benchmarks.md.
DEFAULT_EVERY = 10
DEFAULT_SAMPLES = 2
DEFAULT_QUERIES = 128


class TorchTooOld(RuntimeError):
    """The installed torch cannot be measured; str() is one line naming the version."""


def check_torch(version: str | None = None) -> None:
    """Refuse torch older than MIN_TORCH with one line naming the version found."""
    version = version or torch.__version__
    m = re.match(r"(\d+)\.(\d+)", version)
    if m and (int(m.group(1)), int(m.group(2))) < MIN_TORCH:
        raise TorchTooOld(
            f"AttentionStatsHook needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} "
            f"(nn.MultiheadAttention with batch_first); this run has torch {version}"
        )


def cross_attentions(model: nn.Module) -> list[tuple[int, nn.MultiheadAttention]]:
    """[(decoder layer index, module)] of the model's decoder cross-attentions, or of every
    decoder attention whose role cannot be told from names (decided at run time)."""
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


# nn.MultiheadAttention.forward(query, key, value, key_padding_mask, need_weights, attn_mask, ...)
_POSITIONAL = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask")


def call_arguments(args: tuple, kwargs: dict) -> dict:
    """The forward call's arguments by name."""
    named = dict(zip(_POSITIONAL, args))
    named.update(kwargs)
    return named


class AttentionRecorder:
    """Wraps the decoder cross-attentions' forward and keeps the statistics until `pop()`."""

    def __init__(
        self,
        every: int = DEFAULT_EVERY,
        max_samples: int = DEFAULT_SAMPLES,
        max_queries: int = DEFAULT_QUERIES,
        block: int = 32,
    ):
        for name, value in (
            ("every", every),
            ("max_samples", max_samples),
            ("max_queries", max_queries),
            ("block", block),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"AttentionRecorder: {name} must be a positive integer, got {value!r}")
        self.every, self.max_samples, self.max_queries, self.block = every, max_samples, max_queries, block
        self.iteration = 0  # training iterations seen (one `pop` each)
        self.tallies: dict[int, Tally] = {}
        self.modules: list[nn.Module] = []

    @property
    def measuring(self) -> bool:
        """Whether this iteration is measured."""
        return self.iteration % self.every == 0

    def install(self, model: nn.Module) -> list[int]:
        """Wrap the decoder cross-attentions' forward; returns the layer indices measured."""
        check_torch()
        layers = []
        for index, module in cross_attentions(model):
            module._attnstats = (self, index)
            module.forward = types.MethodType(_measured_forward, module)
            self.modules.append(module)
            layers.append(index)
        return sorted(set(layers))

    def install_on_runner(self, runner) -> list[int]:
        """`install` on an mmcv / mmengine runner's model (DDP unwrapped), saying in the run's log
        which layers are measured and how, or that none could be."""
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        layers = self.install(model)
        if layers:
            runner.logger.info(
                f"AttentionStatsHook: measuring decoder cross-attention of layers {layers} every "
                f"{self.every} iterations (first {self.max_samples} samples of the batch, up to "
                f"{self.max_queries} queries, all keys)"
            )
        else:
            runner.logger.warning(
                "AttentionStatsHook: no nn.MultiheadAttention cross-attention found in "
                "the decoder (flash or deformable attention expose nothing to measure)"
            )
        return layers

    def observe(self, index: int, module: nn.MultiheadAttention, args: tuple, kwargs: dict) -> None:
        """Measure one forward call of a hooked module (skipped outside training and measured iterations)."""
        if not (module.training and self.measuring):
            return
        a = call_arguments(args, kwargs)
        query = a.get("query")
        key = a.get("key", query)
        if query is None or key is None or key is query or _same_tensor(key, query):
            return  # self-attention through a module whose role names did not tell
        tally = self.tallies.setdefault(index, Tally())
        measure_call(
            module,
            query,
            key,
            a.get("key_padding_mask"),
            a.get("attn_mask"),
            tally,
            self.max_samples,
            self.max_queries,
            self.block,
        )

    def pop(self) -> dict[str, float]:
        """The statistics of the iteration that just ended ({} when it was not measured); counts it."""
        out = {}
        for index, tally in sorted(self.tallies.items()):
            result = tally.result()
            if result is not None:
                entropy_key, logit_key = key_names(index)
                out[entropy_key], out[logit_key] = result
        self.tallies = {}
        self.iteration += 1
        return out

    def remove(self) -> None:
        for module in self.modules:
            if module.__dict__.get("forward") is not None:
                del module.forward
            module.__dict__.pop("_attnstats", None)
        self.modules = []


def _measured_forward(self, *args, **kwargs):
    """The wrapped forward of a hooked nn.MultiheadAttention (bound to it)."""
    recorder, index = self._attnstats
    recorder.observe(index, self, args, kwargs)
    return type(self).forward(self, *args, **kwargs)


def _same_tensor(key, query) -> bool:
    return key.shape == query.shape and bool(torch.equal(key, query))


@torch.no_grad()
def measure_call(
    module: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    key_padding_mask,
    attn_mask,
    tally: Tally,
    max_samples: int,
    max_queries: int,
    block: int,
) -> None:
    """Add one call's sampled logits to `tally` (see the module docstring for the sample)."""
    unbatched = query.dim() == 2
    if unbatched:  # (L, E): one sample
        query, key = query.unsqueeze(1), key.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        if attn_mask is not None and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
    elif getattr(module, "batch_first", False):  # (B, L, E) -> (L, B, E)
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    length, batch = query.shape[0], query.shape[1]
    heads, embed = module.num_heads, module.embed_dim
    d = embed // heads
    samples = min(batch, max_samples)
    stride = max(1, math.ceil(length / max_queries))
    rows = torch.arange(0, length, stride, device=query.device)
    wq, wk, bq, bk = _projections(module)
    q = nn.functional.linear(query[rows, :samples].float(), wq, bq)  # (Lm, s, E)
    k = nn.functional.linear(key[:, :samples].float(), wk, bk)  # (S, s, E)
    if module.bias_k is not None:  # add_bias_kv: one learned key appended
        k = torch.cat([k, module.bias_k.float().expand(1, samples, embed)])
    if getattr(module, "add_zero_attn", False):  # a zero key appended after the projections
        k = torch.cat([k, k.new_zeros(1, samples, embed)])
    extra = k.shape[0] - key.shape[0]
    qh = q.reshape(len(rows), samples, heads, d).permute(1, 2, 0, 3)  # (s, H, Lm, d)
    kh = k.reshape(k.shape[0], samples, heads, d).permute(1, 2, 3, 0)  # (s, H, d, S)
    bias, allowed = _mask_terms(key_padding_mask, attn_mask, samples, heads, batch, rows, extra)
    for start in range(0, len(rows), block):
        part = slice(start, start + block)
        logits = qh[:, :, part] @ kh / math.sqrt(d)  # (s, H, b, S)
        tally.add(
            logits,
            None if bias is None else bias[:, :, part] if bias.shape[2] > 1 else bias,
            None if allowed is None else allowed[:, :, part] if allowed.shape[2] > 1 else allowed,
        )


def _projections(module):
    e = module.embed_dim
    if module._qkv_same_embed_dim:
        wq, wk = module.in_proj_weight[:e], module.in_proj_weight[e : 2 * e]
    else:
        wq, wk = module.q_proj_weight, module.k_proj_weight
    bq = bk = None
    if module.in_proj_bias is not None:
        bq, bk = module.in_proj_bias[:e].float(), module.in_proj_bias[e : 2 * e].float()
    return wq.float(), wk.float(), bq, bk


def _mask_terms(key_padding_mask, attn_mask, samples: int, heads: int, batch: int, rows, extra: int):
    """(additive bias, allowed) shaped to broadcast against (s, H, Lm or 1, S + extra), or None each.

    Masks follow nn.MultiheadAttention: bool True (or uint8 nonzero) hides a key; a float mask
    is added to the logits (-inf hides). attn_mask is (L, S) or (B * H, L, S).
    """
    bias = allowed = None

    def absorb(mask, shape_fn):
        nonlocal bias, allowed
        mask = shape_fn(mask)
        if extra:  # the appended keys are never padded
            mask = torch.cat([mask, mask.new_zeros(mask.shape[:-1] + (extra,))], dim=-1)
        if mask.dtype == torch.bool or mask.dtype == torch.uint8:
            ok = ~mask.bool()
            allowed = ok if allowed is None else allowed & ok
        else:
            b = mask.float()
            bias = b if bias is None else bias + b

    if key_padding_mask is not None:
        absorb(key_padding_mask, lambda m: m[:samples, None, None, :])  # (s, 1, 1, S)
    if attn_mask is not None:

        def shape(m):
            if m.dim() == 2:
                return m[rows][None, None]  # (1, 1, Lm, S)
            return m.reshape(batch, heads, m.shape[-2], m.shape[-1])[:samples][:, :, rows]  # (s, H, Lm, S)

        absorb(attn_mask, shape)
    return bias, allowed
