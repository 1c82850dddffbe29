"""nonfinite-loss, divergence, warmup, oscillation, plateau: must fire / must not fire (with the traps)."""

import pytest
from labelled_runs import core, findings, run

# ---- nonfinite-loss ---------------------------------------------------------------------


def test_nonfinite_loss_persistent_nan_is_an_error_naming_the_bbox_terms():
    (f,) = findings("variant/detr3d_nan_persistent", "nonfinite-loss")
    assert f.severity == "error"
    assert f.evidence["first_component"].startswith("loss_bbox")
    assert f.start_epoch == pytest.approx(5.5, abs=0.05)
    # the fix lowers the run's own base lr (2e-4 / 3) and lengthens its own warmup (500 -> 1000)
    changes = {c["param"]: c for c in f.fix.changes}
    assert changes["lr"]["from"] == pytest.approx(2e-4) and changes["lr"]["to"] == pytest.approx(6.7e-5)
    assert core([changes["warmup_iters"]]) == [{"param": "warmup_iters", "from": 500, "to": 1000}]
    assert changes["warmup_iters"]["key"] == "lr_config.warmup_iters" and changes["lr"]["key"] == "optimizer.lr"


def test_nonfinite_loss_one_bad_row_of_50_iterations_is_a_warning():
    """A logged row is a mean over ~50 iterations: one nan iteration makes it nan, the run goes on."""
    (f,) = findings("variant/detr3d_nan_single", "nonfinite-loss")
    assert f.severity == "warning"
    assert f.evidence["first_component"] == "loss_cls" and f.evidence["rows"] == 1


def test_loss_collapse_to_zero_is_its_own_rule():
    assert findings("variant/detr3d_zero_collapse", "nonfinite-loss") == []  # a 0 is no nan/inf
    (f,) = findings("variant/detr3d_zero_collapse", "loss-zero")
    assert f.evidence["kind"] == "zero" and f.evidence["component"] == "loss_cls"
    assert f.evidence["before"] > 0.1


def test_loss_zero_from_the_start_is_a_note_on_a_head_not_a_collapse():
    """Exactly 0 in every row while frame_0_loss_ttc trains: a head without targets (info), never
    a collapse (which needs the key to have been > 0 first)."""
    r = run("real/console-traceback")
    assert (r.train["frame_0_loss_cls"] == 0).all()  # the trap is really there
    assert findings("real/console-traceback", "nonfinite-loss") == []
    (f,) = findings("real/console-traceback", "loss-zero")
    assert f.severity == "info" and f.evidence["kind"] == "zero_whole_run"
    assert "frame_0_loss_cls" in f.evidence["components"] and len(f.evidence["components"]) == 29
    assert f.evidence["training"] == ["frame_0_loss_ttc"]
    assert "frame_0_loss_ttc trains" in f.message


def test_nonfinite_loss_no_zero_note_when_nothing_else_trains(tmp_path):
    """Derived from the real console capture: with frame_0_loss_ttc also 0, no key trains, so
    nothing says one head is missing its targets."""
    from repo_paths import REAL_SET1

    import parsers

    src = REAL_SET1 / "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log"
    text = (
        src.read_text()
        .replace("frame_0_loss_ttc: 2.7446", "frame_0_loss_ttc: 0.0000")
        .replace("frame_0_loss_ttc: 2.9298", "frame_0_loss_ttc: 0.0000")
    )
    (tmp_path / src.name).write_text(text)
    from bevlog.rules import get_rule

    assert [
        f
        for f in get_rule("loss-zero")(parsers.read(str(tmp_path / src.name)))
        if f.evidence.get("kind") == "zero_whole_run"
    ] == []


@pytest.mark.parametrize("run_id", ["real/detr3d-text", "real/streampetr-json", "real/bevfusion-resumed"])
def test_nonfinite_loss_silent_on_finite_real_logs(run_id):
    assert findings(run_id, "nonfinite-loss") == []


# ---- divergence -------------------------------------------------------------------------


def test_divergence_reports_onset_lr_grad_norm_component_and_recipe_fix():
    (f,) = findings("variant/detr3d_diverge", "divergence")
    assert f.severity == "error"
    ev = f.evidence
    assert 4.4 <= f.start_epoch <= 5.1  # the ramp starts at 4.6 (bbox) / 5.0
    assert ev["first_component"] == "loss_bbox"
    assert ev["grad_norm_during"] / ev["grad_norm_before"] > 2.5
    assert ev["lr_at_onset"] == pytest.approx(1.87e-4, rel=0.05)
    # total batch 4 x recipe 2.5e-5 per sample = 1e-4, computed from the run
    assert core(f.fix.changes)[0] == {"param": "lr", "from": 2e-4, "to": 1e-4}


def test_divergence_fix_follows_the_runs_batch():
    import dataclasses

    base = run("variant/detr3d_diverge")
    r = dataclasses.replace(base, meta=dataclasses.replace(base.meta, total_batch=16, lr=1e-3))
    from bevlog.rules import get_rule

    (f,) = get_rule("divergence")(r)
    assert core(f.fix.changes)[0] == {"param": "lr", "from": 1e-3, "to": 4e-4}  # 4e-4 at 16


def test_divergence_ignores_a_rise_inside_warmup():
    """The trap is real: the same detector without the warmup cut fires on these rows."""
    from bevlog.rules._common import rolling_median, signals
    from bevlog.rules.divergence import Thresholds, _first_divergence

    r = run("variant/detr3d_warmup_rise")
    sig = signals(r)
    assert sig.warmup_iters == 1500 and sig.warmup_end_row > 20
    hit = _first_divergence(rolling_median(sig.loss, sig.window), Thresholds())
    assert hit is not None and hit[1] < sig.warmup_end_row  # a rise, inside warmup
    assert findings("variant/detr3d_warmup_rise", "divergence") == []
    assert findings("variant/detr3d_warmup_rise", "warmup") == []


@pytest.mark.parametrize(
    "run_id",
    [
        "real/detr3d-text",
        "real/streampetr-text",
        "real/streampetr-json",
        "real/bevfusion-resumed",
        "real/conditional-detr-mmengine",
        "variant/detr3d_steplr",
        "variant/detr3d_nan_persistent",
    ],
)
def test_divergence_silent_on_healthy_runs_lr_steps_and_nan(run_id):
    assert findings(run_id, "divergence") == []


def test_divergence_rise_that_recovers_by_itself_is_a_note_without_an_lr_fix():
    """A bump the run got over by itself (back within 10% of its low) is no divergence to fix: a
    lower lr does not mend a training that mended itself."""
    fs = findings("variant/streampetr_spikes", "divergence")
    assert [f.severity for f in fs] == ["info"] and fs[0].evidence["recovered"]
    assert fs[0].fix.changes == [] and "recovered" in fs[0].headline


# ---- warmup -----------------------------------------------------------------------------


def test_warmup_warns_when_trouble_starts_right_after_it():
    (f,) = findings("variant/detr3d_diverge_after_warmup", "warmup")
    assert f.severity == "warning"
    assert f.evidence["warmup_iters"] == 500
    assert core(f.fix.changes) == [{"param": "warmup_iters", "from": 500, "to": 1000}]


@pytest.mark.parametrize("run_id", ["variant/detr3d_diverge", "real/detr3d-text", "real/streampetr-text"])
def test_warmup_silent_when_trouble_is_late_or_absent(run_id):
    assert findings(run_id, "warmup") == []


# ---- oscillation ------------------------------------------------------------------------


def test_oscillation_growing_scatter_on_a_flat_trend():
    (f,) = findings("variant/detr3d_oscillation", "oscillation")
    assert f.evidence["growth"] > 3 and f.start_epoch >= 5.5
    # a larger batch is the alternative to a lower lr, not a second change on top of it
    assert "gradient_accumulation" not in {c.param for c in f.fix.changes}
    assert f.fix.alternative.replaces == "lr"
    assert [c.param for c in f.fix.alternative.changes] == ["gradient_accumulation"]
    assert f.fix.alternative.changes[0].to == 2 and "the gradient noise falls by √2" in f.fix.alternative.basis


@pytest.mark.parametrize(
    "run_id",
    [
        "real/detr3d-text",
        "real/streampetr-text",
        "real/bevfusion-resumed",
        "real/conditional-detr-mmengine",
        "variant/detr3d_plateau",
    ],
)
def test_oscillation_silent_on_real_noise_drift(run_id):
    """Healthy runs' scatter drifts up as the loss falls (≈1.6× over DETR3D); not oscillation."""
    assert findings(run_id, "oscillation") == []


# ---- plateau ----------------------------------------------------------------------------


def test_plateau_when_loss_is_flat_at_peak_lr():
    (f,) = findings("variant/detr3d_plateau", "plateau")
    assert f.evidence["lr_end"] / f.evidence["lr_peak"] > 0.9 and abs(f.evidence["fall"]) < 0.01


@pytest.mark.parametrize(
    "run_id",
    [
        "real/detr3d-text",
        "real/streampetr-text",
        "real/detr3d-json",
        "real/bevfusion-resumed",
        "real/conditional-detr-mmengine",
    ],
)
def test_plateau_silent_on_cosine_tails_and_falling_losses(run_id):
    """Cosine tails are flat by design (lr < 10% of its peak there)."""
    assert findings(run_id, "plateau") == []


def test_rules_survive_a_log_that_has_barely_started(tmp_path):
    """What `watch` sees first: a header and one or two rows (or none)."""
    from labelled_runs import DETR3D_TEXT

    import parsers
    from bevlog.diagnose import diagnose_run

    lines = open(DETR3D_TEXT, encoding="utf-8").read().split("\n")
    first = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    for extra in (0, 1, 2):
        path = tmp_path / f"20230727_11403{extra}.log"
        path.write_text("\n".join(lines[: first + extra]) + "\n", encoding="utf-8")
        r = parsers.read(str(path))
        fs = diagnose_run(r, live=True)
        assert not [f for f in fs if f.severity == "error"], fs


def test_genuine_mmcv_nan_run_with_sgd():
    """fixtures/logs/mmcv_nan_loss: a real mmcv runner whose SGD lr 0.05 blew the loss up, then nan.
    The AdamW recipe is not applied to SGD: the fix halves the lr at which the rise began."""
    import os

    from labelled_runs import REPO

    import parsers
    from bevlog.diagnose import diagnose_run

    r = parsers.read(os.path.join(REPO, "fixtures", "logs", "mmcv_nan_loss"))
    fs = {f.rule: f for f in diagnose_run(r)}
    assert fs["nonfinite-loss"].severity == "error"
    div = fs["divergence"]
    assert div.severity == "error"
    # divergence alone halves the lr at which the rise began (its own proposal stays in its evidence);
    # nonfinite-loss cuts it to a third: the run's one fix plan takes the larger cut, and both point into it
    assert div.evidence["own_fix"]["lr"] == 0.025
    assert core(div.fix.changes)[0] == {"param": "lr", "from": 0.05, "to": 0.017}
    assert core(fs["nonfinite-loss"].fix.changes)[0] == {"param": "lr", "from": 0.05, "to": 0.017}
    assert "plan: optimizer.lr 0.05 → 0.017 (set by nonfinite-loss; divergence alone: 0.025)" in div.fix.text
    assert "recipe" not in div.fix.text
    assert "lr-batch" not in fs  # the recipe is AdamW's
