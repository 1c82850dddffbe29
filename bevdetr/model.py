"""BEVDETR: a DETR decoder over BEV features, with PETR-style reference-point queries.

grid (B, C, H, W) -> conv encoder -> BEV tokens (B, h*w, d) whose key positions are a sine
encoding of the cell centre through an MLP; learned reference points (Q, 3) -> the same kind
of encoding through an MLP -> query positions (PETR's reference points); content queries
start at zero; N post-norm decoder layers (self-attn, cross-attn, FFN, dropout 0.1), one
LayerNorm on every layer's output (PETR's post_norm); classification and box heads shared by
all layers; boxes are offsets from the reference points.

What it is not: PETR. There are no cameras: the keys are BEV cells, not image features, and
their position is where the cell is, not PETR's camera-frustum 3D position embedding. The
attentions are `torch.nn.MultiheadAttention` under `decoder.layers.<k>`, so the attention
statistics are measured by the same recorder users add to their runs (`attnstats.recorder`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bevdetr.boxes import decode_boxes, inverse_sigmoid
from bevdetr.position_encoding import PositionMLP, bev_key_positions


class BEVEncoder(nn.Module):
    """Normalised conv stem: (B, C, H, W) -> (B, d, H/2, W/2); GroupNorm after every 3x3 conv.

    The normalisation keeps the stem's activations at a fixed scale whatever the lr does to its
    weights (PETR's ResNet has BatchNorm); its parameters train at `stem_lr_mult` x the lr
    (PETR's backbone: x0.1), see `param_groups`.
    """

    def __init__(self, in_channels: int, d_model: int):
        super().__init__()
        mid = d_model // 2
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, padding=1),
            nn.GroupNorm(_groups(mid), mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, d_model, 3, stride=2, padding=1),
            nn.GroupNorm(_groups(d_model), d_model),
            nn.ReLU(inplace=True),
            nn.Conv2d(d_model, d_model, 3, padding=1),
            nn.GroupNorm(_groups(d_model), d_model),
            nn.ReLU(inplace=True),
            nn.Conv2d(d_model, d_model, 1),
        )

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.net(grid)


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 channels a group (at least one group)."""
    return max(1, channels // 8)


class DecoderLayer(nn.Module):
    """DETR/PETR post-norm decoder layer: self-attn -> cross-attn -> FFN, each + dropout + residual + LayerNorm.

    Dropout as PETR's config: 0.1 on attention weights, on every sub-layer's output and inside the FFN.
    """

    def __init__(self, d_model: int, nhead: int, dim_ff: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, dim_ff), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(dim_ff, d_model)
        )
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, tgt, query_pos, memory, key_pos):
        """tgt (B, Q, d), query_pos (1, Q, d), memory (B, N, d), key_pos (1, N, d) -> (B, Q, d)."""
        q = tgt + query_pos
        tgt = self.norm1(tgt + self.drop(self.self_attn(q, q, tgt, need_weights=False)[0]))
        cross = self.cross_attn(tgt + query_pos, memory + key_pos, memory, need_weights=False)[0]
        tgt = self.norm2(tgt + self.drop(cross))
        return self.norm3(tgt + self.drop(self.ffn(tgt)))


class Decoder(nn.Module):
    """The decoder layers, at `decoder.layers.<k>` as in mmdet's transformers."""

    def __init__(self, d_model: int, nhead: int, dim_ff: int, num_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, nhead, dim_ff, dropout) for _ in range(num_layers))


class MLP(nn.Module):
    """Linear layers with ReLU between them: (..., d_in) -> (..., d_out)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, num_layers: int):
        super().__init__()
        dims = [d_in] + [d_hidden] * (num_layers - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class BEVDETR(nn.Module):
    """grid (B, C, H, W) -> {"pred_logits": (L, B, Q, K), "pred_boxes": (L, B, Q, 8)}, one entry per decoder layer.

    Box vectors are (cx, cy, log w, log l, cz, log h, sin, cos) in metres: centre offsets are
    added to the reference point in inverse-sigmoid space, so layer outputs stay near their query.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 6,
        d_model: int = 64,
        nhead: int = 4,
        dim_ff: int = 128,
        num_layers: int = 6,
        num_queries: int = 30,
        extent: float = 16.0,
        z_range: tuple[float, float] = (-1.5, 3.5),
        share_pe: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.extent, self.z_range = extent, z_range
        self.encoder = BEVEncoder(in_channels, d_model)
        self.key_pe = PositionMLP(d_model)
        self.query_pe = self.key_pe if share_pe else PositionMLP(d_model)
        self.reference_points = nn.Embedding(num_queries, 3)
        nn.init.uniform_(self.reference_points.weight, 0.0, 1.0)
        self.decoder = Decoder(d_model, nhead, dim_ff, num_layers, dropout)
        self.post_norm = nn.LayerNorm(d_model)  # PETR: one LayerNorm on every layer's output before the heads
        self.cls_head = nn.Linear(d_model, num_classes)
        nn.init.constant_(self.cls_head.bias, -math.log((1 - 0.01) / 0.01))  # focal-loss prior 0.01
        self.reg_head = MLP(d_model, d_model, 8, 3)

    def forward(self, grid: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.encoder(grid)  # (B, d, h, w)
        b, d, h, w = feats.shape
        memory = feats.flatten(2).transpose(1, 2)  # (B, h*w, d)
        key_pos = self.key_pe(bev_key_positions(h, w, grid.device)).unsqueeze(0).to(memory.dtype)  # (1, h*w, d)

        reference = self.reference_points.weight  # (Q, 3) in [0, 1]
        query_pos = self.query_pe(reference).unsqueeze(0).to(memory.dtype)  # (1, Q, d)
        tgt = torch.zeros(b, reference.shape[0], d, device=grid.device, dtype=memory.dtype)
        states = []
        for layer in self.decoder.layers:
            tgt = layer(tgt, query_pos, memory, key_pos)
            states.append(self.post_norm(tgt))
        hs = torch.stack(states)  # (L, B, Q, d)
        return {"pred_logits": self.cls_head(hs), "pred_boxes": self._boxes(self.reg_head(hs), reference)}

    def param_groups(self, lr: float, weight_decay: float, stem_lr_mult: float) -> list[dict]:
        """AdamW parameter groups: the stem at lr x stem_lr_mult (PETR's backbone lr_mult 0.1), the rest at lr.

        The decoder's group comes first: the logged lr is the first group's, as mmcv logs it.
        """
        stem = list(self.encoder.parameters())
        stem_ids = {id(p) for p in stem}
        rest = [p for p in self.parameters() if id(p) not in stem_ids]
        return [
            dict(params=rest, lr=lr, weight_decay=weight_decay, lr_mult=1.0),
            dict(params=stem, lr=lr * stem_lr_mult, weight_decay=weight_decay, lr_mult=stem_lr_mult),
        ]

    def _boxes(self, delta: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """delta (L, B, Q, 8), reference (Q, 3) -> boxes (L, B, Q, 8) in metres."""
        ref = inverse_sigmoid(reference)
        cx = (torch.sigmoid(ref[:, 0] + delta[..., 0]) * 2 - 1) * self.extent
        cy = (torch.sigmoid(ref[:, 1] + delta[..., 1]) * 2 - 1) * self.extent
        z0, z1 = self.z_range
        cz = z0 + torch.sigmoid(ref[:, 2] + delta[..., 4]) * (z1 - z0)
        return torch.stack((cx, cy, delta[..., 2], delta[..., 3], cz, delta[..., 5], delta[..., 6], delta[..., 7]), -1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def decode_detections(logits: torch.Tensor, boxes: torch.Tensor, max_num: int | None = None) -> dict:
    """One sample's final-layer output -> detections (PETR's NMS-free coder).

    logits (Q, K), boxes (Q, 8) -> {"scores" (N,), "labels" (N,), "boxes" (N, 7), "centers" (N, 2)}
    as numpy arrays: the top max_num (default Q) of all Q*K sigmoid scores.
    """
    q, k = logits.shape
    scores, flat = logits.sigmoid().flatten().topk(min(max_num or q, q * k))
    labels, query = flat % k, flat // k
    decoded = decode_boxes(boxes[query].float())
    return {
        "scores": scores.numpy(),
        "labels": labels.numpy(),
        "boxes": decoded.numpy(),
        "centers": decoded[:, :2].numpy(),
    }
