"""TensorBoard event files written by a real writer (torch.utils.tensorboard, which writes
through tensorboard's own EventFileWriter): train scalars per step, evaluations on the
iteration axis (detectron2) or on an epoch axis (mmengine's val metrics, `Test/AP` of
many DETR forks), told apart by wall time. The real detrex files are in
test_formats_detectron2.py."""
import math

import numpy as np

import pytest

from parsers import tfevents

pytest.importorskip("tensorboard")
SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
T0 = 1_700_000_000.0


def _write(tmp_path, epoch_axis: bool):
    w = SummaryWriter(str(tmp_path))
    ipe, interval = 100, 20
    for epoch in range(1, 4):
        for it in range(interval, ipe + 1, interval):
            step = (epoch - 1) * ipe + it
            wall = T0 + step
            w.add_scalar("train/loss", 5.0 / step, step, walltime=wall)
            w.add_scalar("train/lr", 1e-4, step, walltime=wall)
            w.add_scalar("epoch", epoch - 1, step, walltime=wall)
        end = T0 + epoch * ipe + 0.5
        w.add_scalar("val/AP", 0.1 * epoch, epoch if epoch_axis else epoch * ipe, walltime=end)
    w.add_histogram("weights", np.array([1.0, 2.0]), 1, walltime=T0)
    w.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    return path


@pytest.mark.parametrize("epoch_axis", [False, True])
def test_two_step_axes(tmp_path, epoch_axis):
    path = _write(tmp_path, epoch_axis)
    assert tfevents.sniff(path.read_bytes()[: 1 << 20])
    d = tfevents.read_draft(str(path), path.name)
    assert d.rows == 15 and d.step[:3] == [20.0, 40.0, 60.0]
    assert d.columns()[0] == ["loss", "lr"]  # `train/` dropped; `epoch` is a position
    assert d.epoch[:6] == [0.0] * 5 + [1.0]
    assert d.skipped == {tfevents.NON_SCALAR: 1}
    ap = [(e.epoch, e.step, e.after_row, round(e.value, 6)) for e in d.evals]
    if epoch_axis:
        assert [(a, r, v) for a, s, r, v in ap] == [(1, 4, 0.1), (2, 9, 0.2), (3, 14, 0.3)]
        assert all(math.isnan(s) for _, s, _, _ in ap) and d.facts["eval_axis"] == "epoch"
    else:
        assert [(s, r, v) for a, s, r, v in ap] == [(100, 4, 0.1), (200, 9, 0.2), (300, 14, 0.3)]
        assert all(math.isnan(a) for a, _, _, _ in ap) and "eval_axis" not in d.facts


def test_missing_extra_message_names_the_extra():
    assert "pip install 'bevlog[tensorboard]'" in tfevents.MISSING_EXTRA
