"""Loss keys follow mmdet (final layer bare, dK. for the others), total = sum of "loss" keys."""

import math

import pytest
import torch

from bevdetr.criterion import SetCriterion, sigmoid_focal_loss
from bevdetr.model import BEVDETR


def targets_for(batch, k=3):
    g = torch.Generator().manual_seed(1)
    out = []
    for m in [2, 0, 3][:batch]:
        out.append({"labels": torch.randint(0, k, (m,), generator=g), "codes": torch.randn(m, 8, generator=g)})
    return out


def outputs(layers=4, batch=3, q=6, k=3):
    g = torch.Generator().manual_seed(0)
    return {
        "pred_logits": torch.randn(layers, batch, q, k, generator=g, requires_grad=True),
        "pred_boxes": torch.randn(layers, batch, q, 8, generator=g, requires_grad=True),
    }


def test_keys_with_aux():
    losses = SetCriterion(3, aux=True)(outputs(layers=4), targets_for(3))
    assert list(losses) == [
        "loss_cls",
        "loss_bbox",
        "d0.loss_cls",
        "d0.loss_bbox",
        "d1.loss_cls",
        "d1.loss_bbox",
        "d2.loss_cls",
        "d2.loss_bbox",
        "loss",
    ]


def test_keys_without_aux():
    losses = SetCriterion(3, aux=False)(outputs(layers=4), targets_for(3))
    assert list(losses) == ["loss_cls", "loss_bbox", "loss"]


def test_total_is_the_sum_of_every_loss_key_and_backpropagates():
    out = outputs(layers=3)
    losses = SetCriterion(3)(out, targets_for(3))
    parts = [v for k, v in losses.items() if k != "loss"]
    assert losses["loss"].item() == pytest.approx(sum(p.item() for p in parts))
    losses["loss"].backward()
    assert out["pred_logits"].grad.abs().sum() > 0 and out["pred_boxes"].grad.abs().sum() > 0


def test_weights_and_normalisation():
    # one query, one class, one target that the query matches exactly: bbox loss 0, cls loss is
    # 2.0 x focal(logit, 1) / 1 box
    out = {"pred_logits": torch.zeros(1, 1, 1, 1), "pred_boxes": torch.ones(1, 1, 1, 8)}
    tgt = [{"labels": torch.tensor([0]), "codes": torch.ones(1, 8)}]
    losses = SetCriterion(1)(out, tgt)
    expected = 2.0 * 0.25 * 0.5**2 * math.log(2)  # alpha * (1 - p)^2 * -log p at p = 0.5
    assert losses["loss_cls"].item() == pytest.approx(expected)
    assert losses["loss_bbox"].item() == 0.0
    tgt = [{"labels": torch.tensor([0]), "codes": torch.zeros(1, 8)}]
    assert SetCriterion(1)(out, tgt)["loss_bbox"].item() == pytest.approx(0.25 * 8)


def test_empty_targets_give_background_only_loss():
    out = outputs(layers=2, batch=2)
    losses = SetCriterion(3)(out, [{"labels": torch.zeros(0, dtype=torch.int64), "codes": torch.zeros(0, 8)}] * 2)
    assert losses["loss_bbox"].item() == 0.0 and losses["loss_cls"].item() > 0


def test_non_finite_values_are_not_hidden():
    out = outputs(layers=2)
    out["pred_boxes"] = out["pred_boxes"].detach().clone()
    out["pred_boxes"][:, :, :, 0] = float("nan")
    losses = SetCriterion(3)(out, targets_for(3))
    assert math.isnan(losses["loss_bbox"].item()) and math.isnan(losses["loss"].item())


def test_focal_loss_matches_definition():
    x, t = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
    p = torch.sigmoid(x)
    expected = torch.stack([-0.25 * (1 - p[0]) ** 2 * torch.log(p[0]), -0.75 * p[1] ** 2 * torch.log(1 - p[1])])
    assert torch.allclose(sigmoid_focal_loss(x, t), expected)


def test_model_and_criterion_name_layers_from_the_model_depth():
    model = BEVDETR(num_classes=3, d_model=32, nhead=2, dim_ff=32, num_layers=3, num_queries=5)
    out = model(torch.randn(2, 6, 16, 16))
    losses = SetCriterion(3)(out, targets_for(2))
    assert [k for k in losses if k.startswith("d")] == ["d0.loss_cls", "d0.loss_bbox", "d1.loss_cls", "d1.loss_bbox"]
