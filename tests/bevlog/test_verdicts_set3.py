"""The held-out audit of the DETR-family logs (docs/verdict_audit.md, "Held out: DETR-family logs"),
each fix on the real file it was found on (fixtures/real/set3: copies of ../shared/reallogs3,
provenance and "what happened" in its README). Numbers are read back from the log here, not typed in."""

import json
import re
from functools import cache

import numpy as np
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET3

import parsers
from bevlog.cli import cli
from bevlog.diagnose import diagnose

HOLTIN = REAL_SET3 / "holtin__detr__outputs_log.txt"
DEPERCEIVER = REAL_SET3 / "maxploter__DePerceiver__de_perceiver_r50_log.txt"
RARENFIN = REAL_SET3 / "rarefin__detr__outputs_log.txt"
RFDETR = REAL_SET3 / "lele56__swin---detr__outputs_log.txt"
RTDETR = REAL_SET3 / "Hammer-888__rtdetr-pytorch__output_rtdetr_pvt_small_6x_coco_improved_log.txt"
DEFORMABLE = REAL_SET3 / "William-Yao-2000__Deformable-DETR-Bezier__log_log_v002.txt"
DETREX = REAL_SET3 / "IDEA-Research__detrex__projects_detr_output"


@cache
def _runs(path) -> dict:
    runs, errors = parsers.read_paths([str(path)])
    assert not errors
    return {r.name: r for r in runs}


def _run(path, suffix=""):
    (run,) = [r for name, r in _runs(path).items() if name.endswith(suffix)]
    return run


def _epochs(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _all_text(d) -> str:
    return " ".join(f"{f.message} {f.span or ''} {f.at or ''} {f.fix.text if f.fix else ''}" for f in d.findings)


# ---- a DETR log.txt: one row per epoch, epochs counted from 0 ------------------------------------


def test_detr_log_txt_speaks_in_its_own_epochs():
    """holtin DETR: the lr drops in the row the log calls epoch 200 (1e-4 → 1e-5); the evaluation
    before it is the log's epoch 199. No finding says "iter" of a log without iterations."""
    d = diagnose(parsers.read(str(HOLTIN)))
    rows = _epochs(HOLTIN)
    drop = next(i for i in range(1, len(rows)) if rows[i]["train_lr"] < 0.5 * rows[i - 1]["train_lr"])
    assert rows[drop]["epoch"] == 200
    (f,) = [f for f in d.findings if f.rule == "lr-drop"]
    assert f.span == f"epoch {rows[drop]['epoch']}" and f.at == f.span
    assert f"at epoch {rows[drop]['epoch']};" in f.message and "within 5 epochs" in f.message
    before, after = rows[drop - 1]["test_coco_eval_bbox"][0], rows[drop]["test_coco_eval_bbox"][0]
    assert f"AP {before:.3g} → {after:.4g}" in f.message
    assert not re.search(r"\biters?\b|iterations", _all_text(d))


def test_a_noisy_plateau_is_not_overfitting():
    """holtin DETR and the RF-DETR launches: AP scatters around a level after its best evaluation; the
    verdict was "AP peaked and fell" with a shorter run as the fix. The fall is now weighed against the
    metric's own scatter (and RF-DETR's EMA AP, the model it keeps, ends at its best)."""
    runs = [parsers.read(str(HOLTIN)), *_runs(RFDETR).values()]
    for run in runs:
        d = diagnose(run)
        assert not [f for f in d.findings if f.rule == "overfitting"], run.name
        assert d.verdict == "healthy", (run.name, d.judged.headline)
    ap = np.array([r["test_coco_eval_bbox"][0] for r in _epochs(HOLTIN)])
    late, mid = ap[250:], ap[200:250]
    assert abs(late.mean() - mid.mean()) < late.std()  # what the README says: nothing fell


def test_a_resume_in_an_epoch_log_names_the_checkpoint_not_an_iteration():
    f = next(f for f in diagnose(_run(RFDETR, "@20250429_175804")).findings if f.rule == "log-integrity")
    assert "resumed from the checkpoint after epoch 34" in f.message and "iter" not in f.message
    assert f.span == "epoch 35"  # the log's first row after the resume
    assert [r["epoch"] for r in _epochs(RFDETR)].count(35) >= 2  # epoch 35 logged again after the resume


def test_the_evaluation_before_a_drop_in_an_epoch_log_is_the_one_before_its_row():
    """DePerceiver: AP 0.2181 (the log's epoch 99, lr 1e-4) → 0.2535 (epoch 100, trained at 1e-5). The
    note said "the evaluations did not improve" comparing two evaluations after the drop."""
    d = diagnose(parsers.read(str(DEPERCEIVER)))
    rows = {r["epoch"]: r for r in _epochs(DEPERCEIVER)}
    assert rows[99]["train_lr"] > 5 * rows[100]["train_lr"]
    (f,) = [f for f in d.findings if f.rule == "lr-drop"]
    a, b = rows[99]["test_coco_eval_bbox"][0], rows[100]["test_coco_eval_bbox"][0]
    assert f"AP {a:.4g} → {b:.4g}" in f.message and "rose faster" in f.message
    assert "did not improve" not in f.message and f.span == "epoch 100"


# ---- RT-DETR: the logged lr is parameter group 0, the backbone's -------------------------------


def test_an_lr_fix_is_never_an_absolute_value_the_log_does_not_state():
    """RT-DETR's `train_lr` is its backbone group (1e-5, base 1e-4): "lr 1.0e-05 → 5.0e-06" was wrong by
    10×. Every lr change on these runs is relative (`factor`) with no value and no key; the finding
    that halves the lr says so in words."""
    from bevlog.fixes import change_text
    from bevlog.rules._common import lower_lr_fix, signals

    for run in _runs(RTDETR).values():
        assert not run.meta.lr
        d = diagnose(run)
        for f in d.findings:
            for c in f.fix.changes if f.fix else []:
                if c.param == "lr":
                    assert c.to is None and c.factor is not None, (run.name, f.rule)
        assert "lr" not in d.plan.changes or d.plan.changes["lr"].change.factor is not None
    run = _run(RTDETR, "#3")
    (c,) = lower_lr_fix(run, signals(run), 2.0)
    assert c.to is None and c.frm is None and c.factor == pytest.approx(0.5)
    assert change_text(c) == "lr ÷ 2" and "parameter group 0" in c.reason and "backbone" in c.reason


def test_epoch_means_are_not_judged_for_oscillation_and_a_constant_lr_plateau_is_a_note():
    """RT-DETR #3/#4: converged runs were "needs attention: the loss scatters 13× more" (the scatter of
    epoch means, ±0.3%) and "plateau while the lr is 100% of its peak" on a constant-lr recipe."""
    for suffix in ("#3", "#4"):
        d = diagnose(_run(RTDETR, suffix))
        assert d.verdict == "healthy" and not [f for f in d.findings if f.rule == "oscillation"]
        assert all(f.severity == "info" for f in d.findings if f.rule == "plateau")
    lr = _run(RTDETR, "#4").train["lr"].to_numpy(dtype=float)
    assert lr.max() == lr.min()  # the constant lr the note reads


def test_rtdetr_s_logged_lr_is_read_as_its_backbone_group():
    """RT-DETR #7 logs train_lr 1e-4: its backbone group at the base lr, 10× its sibling launches'."""
    d = diagnose(_run(RTDETR, "#7"))
    (f,) = [f for f in d.findings if f.rule == "lr-batch"]
    assert f.severity == "info" and f.evidence["kind"] == "group0"
    assert f.evidence["lr"] == pytest.approx(float(_run(RTDETR, "#7").train["lr"].max()))
    assert "backbone" in f.message and "nothing is scaled" in f.message


# ---- each format's own place words -------------------------------------------------------------


def test_a_detr_console_place_is_written_as_the_console_writes_it():
    """Deformable-DETR's MetricLogger counts epochs and iterations from 0 and pads the iteration: the
    grad spike the frames place at epoch 8, iteration 9501 is the console's `Epoch: [7]  [ 9500/30953]`."""
    d = diagnose(parsers.read(str(DEFORMABLE)))
    text = DEFORMABLE.read_text(errors="replace")
    places = [f.at for f in d.findings if f.at]
    assert places
    for at in places:
        first = at.split("–")[0]
        assert first in text, first
    assert any(at.startswith("Epoch: [7]  [ 9500/30953]") for at in places)


def test_detectron2_places_are_its_iter_words():
    run = _run(DETREX, "#1")
    (f,) = [f for f in diagnose(run).findings if f.rule == "log-integrity"]
    assert f.at == "iter: 2" and f"  {f.at}  " in (DETREX / "log.txt").read_text()
    assert f.span == "iter 2" and "(step 2)" not in f.message


# ---- how a detectron2 launch ended -------------------------------------------------------------


def test_a_debugger_quit_is_a_stop_by_a_person():
    """detrex #5: `bdb.BdbQuit` at iteration 32 was "crashed … with an exception; fix the an exception"."""
    d = diagnose(_run(DETREX, "#5"))
    assert d.verdict == "stopped"
    (f,) = [f for f in d.findings if f.rule == "log-integrity"]
    assert f.kind == "stopped" and "by a person" in f.message and "BdbQuit" in f.message
    assert "an exception" not in _all_text(d) + d.judged.headline
    assert "BdbQuit" in (DETREX / "log.txt").read_text()


def test_a_crash_after_the_loss_blew_up_says_how_far_it_rose():
    """detrex #2/#3: total_loss more than doubled in 40 iterations, then the degenerate boxes' AssertionError."""
    from bevlog.numbers import fmt

    for suffix in ("#2", "#3"):
        run = _run(DETREX, suffix)
        loss = run.train["loss"].to_numpy(dtype=float)
        d = diagnose(run)
        assert d.verdict == "broken"
        f = next(f for f in d.findings if f.kind == "traceback")
        assert f.evidence["exception_type"] == "AssertionError"
        assert f"the loss rose ×{loss[-1] / loss.min():.1f} ({fmt(loss.min())} → {fmt(loss[-1])})" in f.message
        assert "after the loss rose" in d.judged.headline


def test_an_evaluation_only_launch_is_healthy_with_its_score():
    """detrex #8 evaluates a converted checkpoint (COCO AP 42.0) and trains nothing."""
    run = _run(DETREX, "#8")
    assert run.train is None or not len(run.train)
    d = diagnose(run)
    assert d.verdict == "healthy" and d.judged.headline.startswith("evaluation only")
    ap = run.evals[run.evals["metric"] == "bbox/AP"]["value"].iloc[-1]
    assert f"bbox/AP {ap:.4g}" in d.judged.headline


def test_a_loss_that_climbs_while_the_lr_still_warms_up_is_not_after_the_warmup():
    """detrex #7: the lr climbs linearly to the last row (the warmup never ended); the loss rose with it.
    The finding was "right after the 379-iter warmup ended", with a fix built on that invented end."""
    run = _run(DETREX, "#7")
    lr = run.train["lr"].to_numpy(dtype=float)
    assert np.all(np.diff(lr) > 0)  # still climbing at the last row
    d = diagnose(run)
    (f,) = [f for f in d.findings if f.rule == "warmup"]
    assert f.kind == "rise_in_warmup" and "still climbing when the log ends" in f.message
    assert "warmup ended" not in _all_text(d) and not f.fix.changes


def test_a_climb_in_rows_that_are_already_medians_is_seen_from_the_first_row():
    """detrex #4 (SGD from the converged checkpoint): total_loss rose from its first row to stay
    60–75% higher while the lr warmed up. detectron2 logs each loss as the median of 20 iterations;
    a second median over rows erased the one low row, and the run read "healthy"."""
    run = _run(DETREX, "#4")
    assert run.meta.loss_median_of == 20
    loss = run.train["loss"].to_numpy(dtype=float)
    steps = run.train["step"].to_numpy(dtype=float)
    assert np.all(loss[1:] > 1.5 * loss[0])  # every later row is far above the first
    d = diagnose(run)
    (f,) = [f for f in d.findings if f.rule == "warmup"]
    assert f.kind == "rise_in_warmup" and d.verdict != "healthy"
    assert f"over its minimum {loss[0]:.1f} from iter {int(steps[0])}" in f.message
    assert f"{(loss.max() / loss[0] - 1) * 100:.1f}%" in f.message  # the peak row over the first
    assert "warmup ended" not in _all_text(d)


def test_a_warmup_ramp_is_not_a_restart():
    """detrex #5's lr rises 4.0e-04 → 6.4e-04 over its 2 rows: the ramp, not a restart."""
    assert not [f for f in diagnose(_run(DETREX, "#5")).findings if "restart" in f.message]


def test_an_absent_total_loss_is_not_a_non_finite_one(tmp_path):
    """An event file with the loss terms and no `total_loss` tag (written here from detrex's own event
    file, every scalar but the total): the total is absent, not nan; the run is read and said to have
    no total loss."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    source = sorted(DETREX.glob("events.out.tfevents.*"))[-1]
    acc = EventAccumulator(str(source), size_guidance={"scalars": 0})
    acc.Reload()
    writer = SummaryWriter(str(tmp_path))
    tags = [t for t in acc.Tags()["scalars"] if t != "total_loss"]
    for tag in tags:
        for e in acc.Scalars(tag):
            writer.add_scalar(tag, e.value, e.step, walltime=e.wall_time)
    writer.close()
    assert "total_loss" in acc.Tags()["scalars"] and "loss_ce" in tags
    (run,) = parsers.read_paths([str(tmp_path)])[0]
    d = diagnose(run)
    assert not [f for f in d.findings if f.rule == "nonfinite-loss" or f.kind == "nonfinite"]
    assert d.verdict != "broken"
    (note,) = [f for f in d.findings if f.kind == "no_total_loss"]
    assert "loss_ce" in note.evidence["terms"]


# ---- compare and help ----------------------------------------------------------------------------


@pytest.mark.parametrize("align", ["iters", "samples"])
def test_compare_refuses_iteration_alignment_of_epoch_rows(align):
    res = CliRunner().invoke(cli, ["compare", str(HOLTIN), str(RARENFIN), "--align", align])
    assert res.exit_code == 2
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert "one row per epoch" in res.output and "--align epochs" in res.output
    assert "Traceback" not in res.output and len([x for x in lines if "error" in x.lower()]) == 1


def test_unscaled_copies_are_no_terms_of_the_total():
    from bevlog.comparenotes import loss_terms

    run = parsers.read(str(HOLTIN))
    unscaled = [c for c in run.train.columns if c.endswith("_unscaled") and "loss" in c]
    assert unscaled and not set(unscaled) & loss_terms(run)
    assert {c[: -len("_unscaled")] for c in unscaled} & loss_terms(run)


def test_parse_help_names_the_detr_family_inputs():
    res = CliRunner().invoke(cli, ["parse", "--help"])
    assert res.exit_code == 0
    for word in ("log.txt", "MetricLogger", "detectron2", "metrics.json", "TensorBoard"):
        assert word in res.output, word


# ---- the contradictions the audit found, caught ------------------------------------------------


def test_the_held_out_audit_s_contradictions_are_caught():
    """Each kind the audit found, put back into a real run's diagnosis, is caught by the consistency
    check: iterations in a log of epoch rows, a debugger quit called a crash, an absolute lr for a
    config whose lr the log does not state; the unchanged diagnoses are clean."""
    import dataclasses

    from bevlog.consistency import contradictions
    from bevlog.findings import Change, Finding, Fix
    from bevlog.fixes import plan_of

    holtin = parsers.read(str(HOLTIN))
    d = diagnose(holtin)
    assert contradictions(holtin, d) == []
    iters = Finding(
        holtin.name, "lr-drop", "info", 200, 200, 200.0, 200.0, "the loss fell 9% within 5 iters", {}, Fix()
    )
    found = contradictions(holtin, dataclasses.replace(d, findings=[iters]))
    assert any("speaks of iterations" in c for c in found)

    quit_ = _run(DETREX, "#5")
    d = diagnose(quit_)
    assert contradictions(quit_, d) == []
    crash = Finding(
        quit_.name,
        "log-integrity",
        "error",
        32,
        32,
        None,
        None,
        "the run died at iter 32",
        {"kind": "traceback", "exception_type": "bdb.BdbQuit"},
        Fix(),
    )
    found = contradictions(quit_, dataclasses.replace(d, findings=[crash]))
    assert any("calls a stop a crash" in c for c in found)

    rt = _run(RTDETR, "#3")
    d = diagnose(rt)
    assert contradictions(rt, d) == []
    halve = Finding(
        rt.name, "oscillation", "warning", None, None, None, None, "m", {}, Fix("", [Change("lr", 5e-6, 1e-5, None)])
    )
    found = contradictions(rt, dataclasses.replace(d, findings=[halve], plan=plan_of([halve], rt)))
    assert any("whose lr the log does not state" in c for c in found)


def test_top_level_help_names_the_detr_family_inputs():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for word in ("mmengine", "log.txt", "detectron2", "TensorBoard"):
        assert word in res.output, word


@pytest.mark.parametrize("suffix", ["#5", "#6", "#8"])
def test_a_fix_never_points_at_a_finding_the_run_does_not_have(suffix):
    """RT-DETR #5, #6, #8: AP at chance, and metric-chance is the only finding. Its fix ended
    "(see no-takeoff)", a finding these runs do not have; it points at the rule's explanation."""
    d = diagnose(_run(RTDETR, suffix))
    rules = {f.rule for f in d.findings}
    (f,) = [f for f in d.findings if f.rule == "metric-chance"]
    assert "no-takeoff" not in rules and "bevlog diagnose --explain no-takeoff" in f.fix.text
    for rule in ("no-takeoff", "lr-batch"):
        if rule not in rules:
            assert f"see {rule}" not in f.fix.text
