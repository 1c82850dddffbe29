"""overfitting and log-integrity."""

import pytest
from labelled_runs import core, findings, run


def test_overfitting_metric_falls_while_train_loss_falls():
    (f,) = findings("variant/detr3d_overfit", "overfitting")
    ev = f.evidence
    assert ev["metric"].endswith("NDS") and ev["falls"] >= 2
    assert ev["train_loss_last"] < ev["train_loss_best"]
    assert core(f.fix.changes) == [{"param": "max_epochs", "from": 24, "to": 16}]


@pytest.mark.parametrize(
    "run_id", ["real/detr3d-text", "real/conditional-detr-mmengine", "real/bevfusion-resumed", "real/streampetr-text"]
)
def test_overfitting_silent_on_small_end_dips_and_recovered_dips(run_id):
    """DETR3D's NDS falls 0.7% over its last two evaluations; Conditional-DETR's mAP dips and recovers."""
    assert findings(run_id, "overfitting") == []


def test_log_integrity_console_capture_names_the_exception_it_died_of():
    (f,) = findings("real/console-traceback", "log-integrity")
    assert f.severity == "error"
    assert f.evidence["exception_type"] == "RuntimeError"
    assert "element 0 of tensors does not require grad" in f.message


def test_log_integrity_resumed_json_gets_a_note():
    (f,) = findings("real/bevfusion-resumed", "log-integrity")
    assert f.severity == "info" and f.evidence["kind"] == "resume"
    assert f.evidence["resumed_from"] == [{"epoch": 2, "iter": 61790}]


def test_log_integrity_two_segment_work_dir():
    fs = {f.evidence["kind"]: f for f in findings("variant/detr3d_resumed", "log-integrity")}
    assert fs["resume"].evidence["segments"] == 2 and fs["resume"].evidence["dropped_rows"] > 0
    assert fs["stopped"].severity == "warning"


def test_log_integrity_stopped_early_and_iters_per_epoch_change():
    (stopped,) = findings("variant/streampetr_cut", "log-integrity")
    assert stopped.evidence == {"kind": "stopped", "last_step": 20000, "planned_steps": 42192}
    kinds = {f.evidence["kind"] for f in findings("variant/detr3d_ipe_change", "log-integrity")}
    assert "iters_per_epoch" in kinds


def test_log_integrity_not_stopped_while_the_log_is_live():
    r = run("variant/streampetr_cut")
    from bevlog.rules import get_rule

    assert get_rule("log-integrity")(r, live=True) == []


@pytest.mark.parametrize("run_id", ["real/detr3d-text", "real/streampetr-text", "real/streampetr-json"])
def test_log_integrity_silent_on_finished_single_logs(run_id):
    """Iteration runners log `epoch` 1 throughout: that is not an integrity problem."""
    assert findings(run_id, "log-integrity") == []
