"""One training step: grad_norm is the norm before clipping; a diverging run logs nan, it does not crash."""

import glob
import math

import pytest
import torch
from bevdetr_logformat import assert_text_and_json_agree, epoch_lines, items, read_json_rows
from click.testing import CliRunner

from bevdetr.cli import cli
from bevdetr.criterion import SetCriterion
from bevdetr.data import SyntheticBEV, collate
from bevdetr.engine import to_device_targets, train_step
from bevdetr.presets import make_settings
from bevdetr.train import build_model


def test_grad_norm_is_logged_before_clipping():
    settings = make_settings("tiny")
    data = SyntheticBEV(settings.scene(), 0, "train", 4)
    grids, targets = collate([data[i] for i in range(4)])
    targets = to_device_targets(targets, torch.device("cpu"))
    torch.manual_seed(0)
    model = build_model(settings)
    reference = build_model(settings)
    reference.load_state_dict(model.state_dict())
    criterion = SetCriterion(settings.num_classes)

    torch.manual_seed(1)  # the same dropout masks in both forwards
    criterion(reference(grids), targets)["loss"].backward()
    unclipped = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in reference.parameters() if p.grad is not None))

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(1)
    log_vars = train_step(model, criterion, optimizer, grids, targets, clip=0.01, device=torch.device("cpu"))
    assert log_vars["grad_norm"] == pytest.approx(unclipped, rel=1e-4)
    assert unclipped > 0.01
    clipped = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
    assert clipped == pytest.approx(0.01, rel=1e-3)  # gradients were clipped in place before the step
    layers = [f"d{k}.loss_{t}" for k in range(settings.layers - 1) for t in ("cls", "bbox")]
    assert list(log_vars) == ["loss_cls", "loss_bbox"] + layers + ["loss", "grad_norm"]


@pytest.mark.slow
def test_a_diverging_run_shows_nan_in_both_logs(tmp_path):
    args = [
        "train",
        "--preset",
        "tiny",
        "--lr",
        "1000",
        "--clip",
        "0",
        "--warmup-iters",
        "0",
        "--epochs",
        "1",
        "--train-samples",
        "80",
        "--val-samples",
        "8",
        "--interval",
        "5",
        "--work-dir",
        str(tmp_path),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (log,) = glob.glob(str(tmp_path / "*.log"))
    losses = [items(m)["loss"] for kind, m in epoch_lines(log) if kind == "train"]
    assert len(losses) == 2 and not math.isfinite(losses[-1])
    assert assert_text_and_json_agree(log, log + ".json") == 3
    assert not math.isfinite(read_json_rows(log + ".json")[2]["loss"])
