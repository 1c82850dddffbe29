"""Sine position encodings and the MLPs that turn them into key / query positions (PETR).

BEV keys sit at their cell centre (x, y) with z = 0.5 (mid height); queries at their
learned reference point (x, y, z). All coordinates are normalised to [0, 1], so one
encoding (and, with --share-pe, one MLP) serves both.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sine_encoding(pos: torch.Tensor, num_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """Transformer-style sine encoding of every coordinate (PETR's pos2posemb3d).

    pos (..., D) in [0, 1] -> (..., D * num_feats). For coordinate p and i < num_feats/2:
    feature 2i = sin(2π p / T^(2i/num_feats)), feature 2i+1 = cos(same); coordinates are
    concatenated in order.
    """
    if num_feats % 2:
        raise ValueError("num_feats must be even")
    i = torch.arange(num_feats // 2, dtype=torch.float32, device=pos.device)
    freqs = temperature ** (2 * i / num_feats)  # (F/2,)
    angles = pos.float().unsqueeze(-1) * (2 * math.pi) / freqs  # (..., D, F/2)
    enc = torch.stack((angles.sin(), angles.cos()), dim=-1)  # (..., D, F/2, 2)
    return enc.flatten(-3)  # (..., D * F)


class PositionMLP(nn.Module):
    """Sine encoding of (x, y, z) -> Linear -> ReLU -> Linear: (..., 3) -> (..., d_model)."""

    def __init__(self, d_model: int, num_feats: int | None = None):
        super().__init__()
        self.num_feats = num_feats or d_model // 2
        self.mlp = nn.Sequential(
            nn.Linear(3 * self.num_feats, d_model), nn.ReLU(inplace=True), nn.Linear(d_model, d_model)
        )

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        return self.mlp(sine_encoding(pos, self.num_feats))


def bev_key_positions(height: int, width: int, device=None) -> torch.Tensor:
    """Normalised centres of an (height, width) token map, row-major: (height*width, 3)."""
    ys = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy, torch.full_like(gx, 0.5)), dim=-1).reshape(-1, 3)
