"""lr-drop and lr-batch: schedule-induced drops are labelled; lr per sample against the recipe."""

import pytest
from labelled_runs import core, findings, run


def test_lr_drop_step_schedule_is_annotated_as_info():
    fs = findings("variant/detr3d_steplr", "lr-drop")
    assert [round(f.start_epoch) for f in fs] == [16, 22]
    assert all(f.severity == "info" for f in fs)
    assert fs[0].evidence["lr_before"] == pytest.approx(2e-4) and fs[0].evidence["lr_after"] == pytest.approx(2e-5)


def test_lr_drop_silent_on_a_by_epoch_cosine_staircase_of_a_resumed_log():
    """BEVFusion's lr 1.5e-4 → 1e-4 → 5e-5 → 1e-5 at epochs 3, 4, 5 is a 6-epoch cosine from 2e-4
    updated once per epoch (no config in this resumed .log.json): a decrease at every epoch
    boundary is the schedule's staircase, not step decays."""
    from bevlog.rules._common import signals

    r = run("real/bevfusion-resumed")
    sched = signals(r).schedule
    assert sched.policy is None and sched.staircase and sched.continuous
    assert findings("real/bevfusion-resumed", "lr-drop") == []


@pytest.mark.parametrize(
    "run_id",
    [
        "real/detr3d-text",
        "real/detr3d-json",
        "real/streampetr-text",
        "real/streampetr-json",
        "real/conditional-detr-mmengine",
    ],
)
def test_lr_drop_silent_on_cosine_staircases_json_rounding_and_constant_lr(run_id):
    """DETR3D's cosine is updated per epoch (late treads fall 30-70%), its .log.json rounds the lr
    to 5 decimals: neither is a step schedule."""
    assert findings(run_id, "lr-drop") == []


def test_lr_batch_uses_the_config_lr_not_param_group_0():
    """Only param group 0's lr is logged (here ×0.1, a backbone): the recipe check uses the base lr."""
    (f,) = findings("variant/detr3d_group0_lr", "lr-batch")
    assert f.evidence["lr"] == pytest.approx(2e-4) and f.evidence["ratio"] == pytest.approx(2.0)
    assert f.severity == "info"


def test_lr_batch_far_above_the_recipe_is_a_note_on_a_run_that_went_well():
    """detr3d_lr_high is the healthy DETR3D run with its config's lr set ×10: its own evidence (NDS
    rises, the loss falls) does not bear the rule's premise out, so it is a note — with the fix."""
    (f,) = findings("variant/detr3d_lr_high", "lr-batch")
    assert f.severity == "info" and f.evidence["ratio"] == pytest.approx(10.0)
    assert "went well" in f.message
    assert core(f.fix.changes) == [{"param": "lr", "from": 1e-3, "to": 1e-4}]  # 2.5e-5 × batch 4


@pytest.mark.parametrize("run_id", ["real/streampetr-text", "real/conditional-detr-mmengine", "real/bevfusion-resumed"])
def test_lr_batch_silent_on_the_recipe_or_without_a_known_batch(run_id):
    assert findings(run_id, "lr-batch") == []


def test_lr_batch_iters_per_epoch_contradict_the_stated_batch():
    (f,) = findings("variant/detr3d_gpus8", "lr-batch")
    ev = f.evidence
    assert ev["kind"] == "iters_per_epoch" and ev["stated_batch"] == 8
    assert ev["implied_batch"] == pytest.approx(28130 / 7033)
    assert core(f.fix.changes) == [{"param": "lr", "from": 2e-4, "to": 1e-4}]  # the recipe at the true batch 4


def test_lr_batch_iters_per_epoch_agree_on_the_real_detr3d_log():
    """28,130 nuScenes samples / 7033 iterations = 4 = 4 GPUs × 1: no mismatch."""
    kinds = [f.evidence["kind"] for f in findings("real/detr3d-text", "lr-batch")]
    assert kinds == ["lr"]


def test_lr_restart_is_annotated_and_restarts_the_divergence_minimum():
    """A warm restart (lr back up) is followed by a loss rise that is the schedule's, not divergence."""
    import numpy as np
    from labelled_runs import run

    from bevlog.rules import get_rule

    r = run("variant/detr3d_steplr")
    train = r.train.copy()
    late = train["epoch_f"] > 18
    train.loc[late, "lr"] = 2e-4  # warm restart at epoch 18: the loss jumps ×1.4, then decays back
    k = np.arange(int(late.sum()))
    train.loc[late, "loss"] = train.loc[late, "loss"] * (1 + 0.4 * np.minimum(1, k / 8) * np.exp(-k / 300))
    r.train = train
    restarts = [f for f in get_rule("lr-drop")(r) if f.evidence["kind"] == "restart"]
    assert len(restarts) == 1 and round(restarts[0].start_epoch) == 18
    assert get_rule("divergence")(r) == []
