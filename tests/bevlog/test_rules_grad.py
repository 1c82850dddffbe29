"""grad-nonfinite and grad-spike: fp16 overflow skips are benign, persistent overflow is not."""

import pytest
from labelled_runs import core, findings


@pytest.mark.parametrize("run_id", ["real/streampetr-text", "real/streampetr-json", "real/bevfusion-resumed"])
def test_grad_nonfinite_fp16_overflow_windows_are_info(run_id):
    (f,) = findings(run_id, "grad-nonfinite")
    assert f.severity == "info"
    assert 0 < f.evidence["share"] < 0.05 and f.evidence["loss_change"] < 0
    assert core(f.fix.changes) == []


def test_grad_nonfinite_persistent_with_a_stalled_loss_is_an_error():
    (f,) = findings("variant/streampetr_inf_persistent", "grad-nonfinite")
    assert f.severity == "error"
    assert f.evidence["longest_run"] >= 200 and f.evidence["tail_share"] == 1.0
    assert core(f.fix.changes)[0] == {"param": "lr", "from": 4e-4, "to": pytest.approx(1.3e-4)}


def test_grad_nonfinite_after_nan_weights_is_an_error():
    (f,) = findings("variant/detr3d_nan_persistent", "grad-nonfinite")
    assert f.severity == "error" and "non-finite itself" in f.message


@pytest.mark.parametrize(
    "run_id", ["real/detr3d-text", "real/conditional-detr-mmengine", "variant/streampetr_no_gradnorm"]
)
def test_grad_rules_silent_when_grad_norm_is_finite_or_not_logged(run_id):
    """grad_norm is logged only when clipping is on: without it there is nothing to say."""
    assert findings(run_id, "grad-nonfinite") == []
    assert [f for f in findings(run_id, "grad-spike") if f.severity != "info"] == []


def test_grad_spike_explosion_escalates_when_the_loss_rises_after_it():
    fs = {f.start_step: f for f in findings("variant/streampetr_spikes", "grad-spike")}
    assert fs[20000].severity == "error" and fs[20000].evidence["loss_rise_after"] > 0.3
    # the ×10 explosion the loss ignored, on a run that clips at 35 and went well: the clip did its job
    assert fs[10000].severity == "info" and fs[10000].evidence["peak_ratio"] > 10
    assert fs[10000].fix.changes == [] and "clip" in fs[10000].fix.text
    assert core(fs[20000].fix.changes)[0] == {"param": "lr", "from": 4e-4, "to": 2e-4}


def test_grad_spike_isolated_spike_is_only_a_note():
    fs = findings("real/detr3d-text", "grad-spike")
    assert [f.severity for f in fs] == ["info"]  # one ×5.6 spike at epoch 13, loss unmoved
    assert 5 <= fs[0].evidence["peak_ratio"] < 6


def test_grad_spike_ignores_inf_rows():
    """Overflow rows (inf) are grad-nonfinite's business, not ×∞ spikes."""
    assert [f for f in findings("real/streampetr-json", "grad-spike") if f.severity != "info"] == []
