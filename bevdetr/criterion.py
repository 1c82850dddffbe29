"""Set losses: per-layer Hungarian matching, sigmoid focal classification, L1 box regression.

Keys follow mmdet: the final layer logs `loss_cls` / `loss_bbox`, the layers before it
`d0.loss_cls` ... `d{N-2}.loss_bbox`; with aux off only the final layer's keys exist.
The total is mmdet's `_parse_losses` rule: the sum of every key containing "loss".
Nothing is clamped or nan_to_num'd: a diverging run must show it.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from bevdetr.matcher import HungarianMatcher


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Element-wise focal loss (mmdet's py_sigmoid_focal_loss). logits, targets (..., K) -> (..., K)."""
    p = logits.sigmoid()
    pt = (1 - p) * targets + p * (1 - targets)
    weight = (alpha * targets + (1 - alpha) * (1 - targets)) * pt.pow(gamma)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * weight


def mean_over_ranks(value: float) -> float:
    """Average a number over DDP ranks (mmdet's reduce_mean of the positive count)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def layer_key(layer: int, num_layers: int, term: str) -> str:
    """mmdet naming: final layer `loss_<term>`, earlier ones `d<k>.loss_<term>`."""
    return f"loss_{term}" if layer == num_layers - 1 else f"d{layer}.loss_{term}"


class SetCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher | None = None,
        cls_weight: float = 2.0,
        bbox_weight: float = 0.25,
        alpha: float = 0.25,
        gamma: float = 2.0,
        aux: bool = True,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher or HungarianMatcher(cls_weight, bbox_weight, alpha, gamma)
        self.cls_weight, self.bbox_weight, self.alpha, self.gamma, self.aux = cls_weight, bbox_weight, alpha, gamma, aux

    def layer_losses(self, logits: torch.Tensor, boxes: torch.Tensor, targets: list[dict], num_boxes: float):
        """logits (B, Q, K), boxes (B, Q, 8) of one layer -> (loss_cls, loss_bbox) scalars."""
        logits, boxes = logits.float(), boxes.float()
        indices = self.matcher(logits, boxes, targets)
        onehot = torch.zeros_like(logits)
        pred_codes, tgt_codes = [], []
        for b, (qi, ti) in enumerate(indices):
            onehot[b, qi.to(logits.device), targets[b]["labels"][ti]] = 1.0
            pred_codes.append(boxes[b, qi.to(boxes.device)])
            tgt_codes.append(targets[b]["codes"][ti])
        loss_cls = sigmoid_focal_loss(logits, onehot, self.alpha, self.gamma).sum() / num_boxes
        loss_bbox = F.l1_loss(torch.cat(pred_codes), torch.cat(tgt_codes).to(boxes), reduction="sum") / num_boxes
        return self.cls_weight * loss_cls, self.bbox_weight * loss_bbox

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        """outputs: pred_logits (L, B, Q, K), pred_boxes (L, B, Q, 8); targets: dicts with labels, codes.

        Returns {key: scalar} with the layer keys and `loss`.
        """
        logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
        num_layers = logits.shape[0]
        num_boxes = max(mean_over_ranks(float(sum(len(t["labels"]) for t in targets))), 1.0)
        layers = range(num_layers) if self.aux else [num_layers - 1]
        losses = {}
        for layer in layers:
            cls, bbox = self.layer_losses(logits[layer], boxes[layer], targets, num_boxes)
            losses[layer_key(layer, num_layers, "cls")] = cls
            losses[layer_key(layer, num_layers, "bbox")] = bbox
        # mmdet logs the final layer first, then d0, d1, ...
        ordered = {k: losses[k] for k in ("loss_cls", "loss_bbox")}
        ordered.update({k: v for k, v in losses.items() if k not in ordered})
        ordered["loss"] = sum(v for k, v in ordered.items() if "loss" in k)
        return ordered
