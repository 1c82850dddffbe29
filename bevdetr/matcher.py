"""Hungarian matching of predictions to ground truth (one-to-one, scipy), as in DETR.

cost = cls_weight * focal cost + bbox_weight * L1 distance of the 8-vector box codes.
The focal cost is mmdet's FocalLossCost: the focal loss of calling the query "this
class" minus the focal loss of calling it "not this class".
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn


def focal_cost(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-12
) -> torch.Tensor:
    """logits (N, K), labels (M,) -> cost (N, M)."""
    p = logits.sigmoid()
    neg = -(1 - p + eps).log() * (1 - alpha) * p.pow(gamma)
    pos = -(p + eps).log() * alpha * (1 - p).pow(gamma)
    return pos[:, labels] - neg[:, labels]


class HungarianMatcher(nn.Module):
    def __init__(self, cls_weight: float = 2.0, bbox_weight: float = 0.25, alpha: float = 0.25, gamma: float = 2.0):
        super().__init__()
        self.cls_weight, self.bbox_weight, self.alpha, self.gamma = cls_weight, bbox_weight, alpha, gamma

    @torch.no_grad()
    def forward(self, logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict]):
        """Match a batch in one cost computation.

        logits (B, Q, K), boxes (B, Q, 8); targets: B dicts with "labels" (M_b,) and "codes" (M_b, 8).
        Returns B pairs (query_idx, target_idx), int64 tensors of length min(Q, M_b).
        """
        b, q = logits.shape[:2]
        sizes = [len(t["labels"]) for t in targets]
        empty = torch.empty(0, dtype=torch.int64)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in range(b)]
        labels = torch.cat([t["labels"] for t in targets])
        codes = torch.cat([t["codes"] for t in targets]).float()
        cost = self.cls_weight * focal_cost(
            logits.flatten(0, 1).float(), labels, self.alpha, self.gamma
        ) + self.bbox_weight * torch.cdist(boxes.flatten(0, 1).float(), codes, p=1)
        # scipy refuses non-finite costs; a diverged model still gets *some* assignment so its
        # (non-finite) losses reach the log instead of a crash. The losses themselves are untouched.
        cost = torch.where(torch.isfinite(cost), cost, torch.full_like(cost, 1e12)).view(b, q, -1).cpu()
        out = []
        for i, c in enumerate(cost.split(sizes, -1)):
            if sizes[i] == 0:
                out.append((empty, empty))
                continue
            rows, cols = linear_sum_assignment(c[i].numpy())
            out.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return out
