"""Box encodings shared by the model, the losses and the metric.

A box is (x, y, z, w, l, h, yaw) in metres / radians. The regression target is its
8-vector (cx, cy, log w, log l, cz, log h, sin yaw, cos yaw): L1 in metres for the
centre, in log-space for sizes, on the unit circle for the heading.
"""

from __future__ import annotations

import torch


def encode_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 7) boxes -> (..., 8) regression targets."""
    x, y, z, w, length, h, yaw = boxes.unbind(-1)
    return torch.stack((x, y, w.log(), length.log(), z, h.log(), yaw.sin(), yaw.cos()), dim=-1)


def decode_boxes(codes: torch.Tensor) -> torch.Tensor:
    """(..., 8) regression vectors -> (..., 7) boxes."""
    cx, cy, lw, ll, cz, lh, s, c = codes.unbind(-1)
    return torch.stack((cx, cy, cz, lw.exp(), ll.exp(), lh.exp(), torch.atan2(s, c)), dim=-1)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """logit(x) with x clamped to [0, 1] and both tails kept finite (mmdet's version)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
