"""Issue 17's "What is wrong today", each on the real log it was found on (fixtures/real: byte copies of
../shared/reallogs and reallogs2, provenance in their READMEs) or on a small generated log."""

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1, REAL_SET2, REPO

import parsers
from bevlog.cli import cli
from bevlog.diagnose import diagnose

LRX10 = REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
CODINO = REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco"
NOHUP = REAL_SET2 / "STEALMOO__CAICON__nohup.out"
RETINA_NAN = REAL_SET2 / "zhaoyang97__mmdetection__20210222_195422.log"


@functools.cache  # the capture of 18 launches is read once: many tests judge one of its runs
def _nohup_runs() -> tuple:
    return tuple(parsers.read_paths([str(NOHUP)])[0])


def _nohup(stamp: str):
    (run,) = [r for r in _nohup_runs() if r.name.endswith(stamp)]
    return run


def _cli(*args):
    return CliRunner().invoke(cli, ["diagnose", *map(str, args)], env={"NO_COLOR": "1", "COLUMNS": "400"})


# ---- headline and severity -------------------------------------------------------------------


def test_superseded_rows_are_evidence_the_first_attempt_went_nan():
    """The first attempt went NaN at lr 0.1 (10× the mmdet R-CNN recipe at batch 8, the work dir is
    named "lrx10"); the resume trained at lr 0.001. The NaN is the lr's evidence: lr-batch is a warning
    and the root, placed after the outcome's first clause; the plan writes the recipe's lr."""
    d = diagnose(parsers.read(str(LRX10)))
    assert d.verdict == "needs attention"
    assert d.judged.headline == (
        "the first attempt went NaN at epoch 5.3 at lr 0.1, because the lr is 10× above the "
        "mmdet R-CNN recipe at total batch 8; the run resumed from epoch 4 and then trained "
        "normally"
    )
    (f,) = [f for f in d.findings if f.rule == "earlier-attempt"]
    assert f.at == "Epoch [6][1050/3750]" and f.evidence["rows"] == 355  # 355 nan rows (README: grep)
    assert f.role == "consequence" and d.judged.root == "lr-batch" and d.judged.outcome == "earlier-attempt"
    (lr,) = [f for f in d.findings if f.rule == "lr-batch"]
    assert lr.severity == "warning" and lr.evidence["failed_attempt_lr"] == 0.1
    assert "went well" in lr.message and "only after it resumed at lr 0.001" in lr.message
    assert d.plan.changes["lr"].to == pytest.approx(0.01) and "optimizer.lr 0.1 → 0.01" in d.judged.line


def test_an_orientation_at_chance_is_a_warning_with_its_fix_in_every_format():
    d = diagnose(parsers.read(str(DETR3D)))
    assert d.verdict == "needs attention" and "orientation is not learned" in d.judged.headline
    (f,) = [f for f in d.findings if f.rule == "metric-chance"]
    assert f.severity == "warning" and "yaw" in f.fix.text
    text, md = _cli(DETR3D).stdout, _cli(DETR3D, "--format", "markdown").stdout
    doc = json.loads(_cli(DETR3D, "--format", "json").stdout)["runs"][0]
    for out in (text, md):
        assert "fix: check for a yaw" in out or "check for a yaw" in out
        assert d.judged.line.split(" — ", 1)[1][:60] in " ".join(out.split())
    assert doc["verdict_line"] == d.judged.line and doc["verdict"] == "needs attention"


def test_a_header_only_launch_never_trained_and_gets_no_lr_warning():
    runs = parsers.read_paths([str(CODINO)])[0]
    assert len(runs) == 2
    for run in runs:
        d = diagnose(run)
        assert d.verdict == "broken" and d.judged.headline.startswith("the run never trained")
        assert d.judged.root == "log-integrity"
        assert not [f for f in d.findings if f.rule == "lr-batch" and f.severity != "info"]
        assert "aux off" not in d.summary and "aux ?" in d.summary  # no row: nobody knows


@pytest.mark.parametrize("stamp", ["20240915_091327", "20240915_040439"])
def test_ctrl_c_is_stopped_not_a_crash_to_fix(stamp):
    d = diagnose(_nohup(stamp))
    (f,) = [f for f in d.findings if f.rule == "log-integrity" and f.kind == "stopped"]
    assert f.severity == "info" and "by a person (KeyboardInterrupt" in f.message
    assert "fix the KeyboardInterrupt" not in d.judged.line and "crashed" not in d.judged.headline


def test_a_signal_in_the_tail_is_a_scheduler_stop(tmp_path):
    src = REPO / "fixtures" / "logs" / "mmcv_epoch"
    log = next(src.glob("*.log"))
    text = log.read_text().splitlines()
    cut = [line for line in text if "Epoch [3]" not in line and "Epoch(val) [3]" not in line]
    (tmp_path / log.name).write_text(
        "\n".join(cut + ["slurmstepd: error: *** JOB 42 ON n1 CANCELLED AT 2026-11-28T05:02:00 DUE TO TIME LIMIT ***"])
        + "\n"
    )
    d = diagnose(parsers.read(str(tmp_path)))
    stops = [f for f in d.findings if f.rule == "log-integrity" and f.kind == "stopped"]
    assert stops and all("by a signal" in f.message for f in stops if f.severity == "info")


def test_bevdetr_aux_off_runs_that_end_higher_get_a_note_not_a_fix():
    d = diagnose(parsers.read(str(REPO / "fixtures" / "runs" / "aux-off")))
    (f,) = [f for f in d.findings if f.rule == "aux-missing"]
    assert f.severity == "info" and "went well without them" in f.message
    assert "aux_loss" not in d.judged.line


# ---- findings that contradict each other or the log ------------------------------------------


def _chance_log(path):
    """A run whose metric stays at chance (0 → 0.001 → 0) while its loss falls: lr-batch must not
    call it one that learns, overfitting must not read a peak."""
    from test_rules_degenerate import write_log

    loss = 3.0 * np.exp(-np.arange(60) / 20) + 0.5
    write_log(path / "20261128_050106.log", loss, 2e-4, np.full(60, 3.0), [0.0, 0.001, 0.0, 0.0])


def test_a_metric_at_chance_is_never_called_learning(tmp_path):
    from bevlog.consistency import contradictions

    _chance_log(tmp_path)
    run = parsers.read(str(tmp_path))
    d = diagnose(run)
    assert not [f for f in d.findings if f.rule == "overfitting"]
    assert not [f for f in d.findings if "learns well" in f.message]
    assert contradictions(run, d) == []


def test_nan_inside_warmup_is_not_after_it_and_watch_stamps_its_row():
    run = parsers.read(str(RETINA_NAN))
    d = diagnose(run)
    assert not [f for f in d.findings if f.rule == "warmup"]
    (f,) = [f for f in d.findings if f.rule == "nonfinite-loss"]
    assert f.start_step == 300 and f.at.startswith("Epoch [1][300/30045]")
    from bevlog.commands.watch import format_line
    from bevlog.live import Watcher

    found, _, error = Watcher(str(RETINA_NAN), ["nonfinite-loss"], follow_rotation=False).read_once()
    assert error is None and "Epoch [1][300/30045]" in format_line(found[0])


def test_no_takeoff_on_the_retinanet_launch_measures_no_spike_and_speaks_of_its_family():
    d = diagnose(_nohup("20240915_040439"))
    (f,) = [f for f in d.findings if f.rule == "no-takeoff"]
    assert "99%" not in f.message and f.evidence["loss_first"] < 2.0  # not the 226 spike at iter 1,000
    assert "DETR" not in f.fix.text and "dense detector" in f.fix.text


def test_layer_flat_never_guesses_an_lr_direction_another_rule_contradicts():
    import inspect

    from bevlog.rules import layer_flat

    assert "may be too low" not in inspect.getsource(layer_flat)


# ---- plans -------------------------------------------------------------------------------------


def test_an_lr_fix_is_the_config_value_with_the_effective_lr_it_yields():
    """auto_scale_lr (base 8, batch 2: ×0.25) sits between the config's lr and the optimizer's: the
    fix writes the config key's value and states the effective lr."""
    d = diagnose(_nohup("20240915_040439"))
    lr = d.plan.changes["lr"].change
    assert lr.key == "optim_wrapper.optimizer.lr" and lr.frm == 0.0025
    assert lr.effective_to == pytest.approx(lr.to * 0.25) and "auto_scale_lr" in lr.scale


def test_a_shorter_run_moves_its_milestones_and_keeps_warmup_inside():
    from bevlog.findings import Change, Finding, Fix
    from bevlog.fixes import plan_of
    from parsers import LrSchedule, Meta, Run

    meta = Meta(
        name="r",
        runner="epoch",
        max_epochs=40,
        iters_per_epoch=10,
        config={
            "optimizer": {"type": "SGD", "lr": 0.02},
            "lr_config": {"policy": "step", "step": [32, 36]},
            "runner": {"type": "EpochBasedRunner", "max_epochs": 40},
        },
        lr_schedule=LrSchedule(policy="step", steps=(32, 36), by_epoch=True),
    )
    run = Run(meta, None, None, None)
    fs = [
        Finding(
            "r",
            "overfitting",
            "warning",
            None,
            None,
            None,
            None,
            "m",
            {},
            Fix("", [Change("max_epochs", 23, 40, "runner.max_epochs")]),
        ),
        Finding(
            "r",
            "warmup",
            "warning",
            None,
            None,
            None,
            None,
            "m",
            {},
            Fix("", [Change("warmup_iters", 1000, 500, "lr_config.warmup_iters")]),
        ),
    ]
    plan = plan_of(fs, run)
    assert plan.changes["lr_steps"].to == [18, 21] and plan.changes["lr_steps"].change.key == "lr_config.step"
    assert plan.changes["warmup_iters"].to <= 0.25 * 23 * 10


def test_milestones_past_the_end_are_the_root_of_the_plateau_with_the_concrete_change():
    d = diagnose(_nohup("20240913_044703"))  # GLIP: MultiStepLR [8, 11], max_epochs 5
    assert d.judged.root == "schedule" and "never decays" in d.judged.headline
    (p,) = [f for f in d.findings if f.rule == "plateau"]
    assert p.role == "consequence" and p.because.startswith("schedule")
    assert d.plan.changes["lr_steps"].to == [3, 4]
    assert "param_scheduler[1].milestones [8, 11] → [3, 4]" in d.judged.line


# ---- the verdict audit (docs/verdict_audit.md): each fix on the real log it was found on ------------

MMSEG = [
    REAL_SET2 / "woxinyonghen__OpenMMLabCamp__20230211_201914.log",
    REAL_SET2 / "woxinyonghen__OpenMMLabCamp__slurm-300830.out",
]


@pytest.mark.parametrize("path", MMSEG, ids=["log", "slurm"])
def test_a_poly_schedule_set_for_40000_iterations_in_a_10000_iteration_run_is_the_root(path):
    """mmseg PSPNet: PolyLR end=40000, max_iters 10000 (the config dump: grep 'end=40000'); the logged lr
    ends at 7.7419e-03, 77% of 0.01. The plateau at the end is its consequence, the fix the end."""
    d = diagnose(parsers.read(str(path)))
    assert d.verdict == "needs attention" and d.judged.root == "schedule"
    (s,) = [f for f in d.findings if f.rule == "schedule"]
    assert s.evidence["kind"] == "decay_period" and s.evidence["period_end"] == 40000
    assert "PolyLR phase ends at iteration 40,000 but the run at 10,000" in s.message and "(0.00774)" in s.message
    assert "param_scheduler[0].end 40000 → 10000" in d.judged.line
    assert all(f.role == "consequence" for f in d.findings if f.rule == "plateau")


def test_a_logged_lr_that_never_followed_its_edited_milestones_is_the_root():
    """STEALMOO effb3: the milestones are edited between resumes ([8, 11] end=7 → … → [15, 30] gamma 0.2),
    the logged lr stays 3.1250e-04 from Epoch [1][6100/15169] to [32][11200/15169] (grep 'lr: '). No config
    value fixes a restored scheduler: the finding says what to do instead and the plan changes nothing."""
    d = diagnose(_nohup("20240915_105522"))
    assert d.judged.root == "schedule" and d.verdict == "needs attention"
    assert d.judged.headline.startswith("the lr never followed the config's milestones [15, 30]")
    (s,) = [f for f in d.findings if f.rule == "schedule"]
    assert s.evidence["kind"] == "not_followed" and s.evidence["resumes"] == 10
    assert "3.1e-04" in s.message and "since epoch 0.1" in s.message and "restores the lr scheduler" in s.message
    assert "load_from" in s.fix.advice and not s.fix.changes and "lr_steps" not in d.plan.changes
    assert [f.role for f in d.findings if f.rule == "plateau"] == ["consequence"]


def test_the_retinanet_launch_never_took_off_after_grad_explosions_not_a_warmup():
    """STEALMOO retinanet_r18: grad_norm 8,730 with loss_cls 225 at Epoch [1][1000/15169], and again at
    1200, 1500, 3100 (grep 'grad_norm: [0-9]\\{3,\\}'): jumps that recur long after the 200-iteration warmup
    are not the warmup's. The loss jumped with them: the message says so. MultiStepLR end=3 keeps its
    milestones [8, 11] from ever coming in the 10-epoch run: the plan moves the end with them."""
    d = diagnose(_nohup("20240915_040439"))
    assert not [f for f in d.findings if f.rule == "warmup"]
    assert d.judged.outcome == "no-takeoff" and d.judged.root == "grad-spike"
    assert d.judged.headline.startswith(
        "the loss went flat after 1.82 → 1.63 and the run never took off, because "
        "grad_norm exploded ×963 at epoch 0.1 (the loss 226 with it)"
    )
    first = min((f for f in d.findings if f.rule == "grad-spike"), key=lambda f: f.start_step)
    assert first.start_step == 1000 and "the loss jumped to 226 with it" in first.message
    assert "did not rise" not in first.message
    (s,) = [f for f in d.findings if f.rule == "schedule"]
    assert s.evidence["scheduler_end"] == 3 and "scheduler's own end (end=3" in s.message
    assert d.plan.changes["step_end"].to == 10 and d.plan.changes["lr_steps"].to == [7, 9]
    assert "no evaluation metric in the log" in next(f.message for f in d.findings if f.rule == "no-takeoff")


@pytest.mark.parametrize("stamp,status", [("20240915_091327", "stopped"), ("20240915_211009", "stopped")])
def test_a_schedule_a_stopped_run_never_reached_is_for_the_rerun(stamp, status):
    """GLIP launches with milestones [6, 9] in a 3-epoch run, stopped at epoch 0.03 (Ctrl-C) and 0.7 (no
    closing line): nothing they show depends on the schedule; the verdict is the stop, and the schedule's
    change is for the next launch."""
    d = diagnose(_nohup(stamp))
    assert d.verdict == status
    (s,) = [f for f in d.findings if f.rule == "schedule"]
    assert s.severity == "info" and s.evidence["before_rerun"] is True
    assert d.judged.line.endswith("; before a rerun: param_scheduler[1].milestones [6, 9] → [2]")


def test_a_one_epoch_run_gets_no_milestone_move_that_changes_nothing():
    for run in parsers.read_paths([str(CODINO)])[0]:
        d = diagnose(run)
        (s,) = [f for f in d.findings if f.rule == "schedule"]
        assert s.severity == "info" and not s.fix.changes and "too short for a step decay" in s.message
        assert "lr_config.step" not in d.judged.line and "lr_steps" not in d.plan.changes


def test_a_log_file_is_never_said_to_have_ended_without_an_error():
    """An mmcv .log holds the logger's records, not tracebacks: its silence is 'no error logged'. A console
    capture (nohup.out) holds the tracebacks, so there it is 'without an error'."""
    ifcos = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco"
    for run in parsers.read_paths([str(ifcos)])[0]:
        line = diagnose(run).judged.line
        assert "without an error" not in line
        if run.name.endswith(("162507", "165601")):
            assert "the run never trained: it stopped before its first iteration, with no error in its log file" in line
    assert "without an error" in diagnose(_nohup("20240915_211009")).judged.line


def test_a_place_early_in_a_long_first_epoch_keeps_a_digit():
    """NaN at Epoch [1][300/30045] is epoch 0.01, not 'epoch 0.0'."""
    d = diagnose(parsers.read(str(RETINA_NAN)))
    assert d.judged.headline.startswith("the loss went nan at epoch 0.01 at lr 0.00598")


def test_the_plan_is_never_rewritten_by_parsing_prose():
    from bevlog import fixes

    assert not hasattr(fixes, "CLAUSE_PATTERNS")
    assert not re.search(r"^import re$", Path(fixes.__file__).read_text(), re.MULTILINE)


# ---- live mode ------------------------------------------------------------------------------------


def test_watch_on_a_header_only_log_is_waiting_for_the_first_iteration(tmp_path):
    log = next(CODINO.glob("20241024_154827.log"))
    (tmp_path / log.name).write_bytes(log.read_bytes())
    res = CliRunner().invoke(cli, ["watch", "--once", str(tmp_path / log.name)], env={"NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    assert "waiting for the first iteration" in res.stdout and "died" not in res.stdout


def test_live_metric_at_chance_while_the_loss_still_falls_is_early_not_an_error(tmp_path):
    from test_rules_degenerate import write_log

    from bevlog.rules import get_rule

    loss = 3.0 * np.exp(-np.arange(40) / 30) + 0.5  # still falling at its last rows
    write_log(tmp_path / "20261128_050106.log", loss, 2e-4, np.full(40, 3.0), [0.0, 0.0])
    run = parsers.read(str(tmp_path))
    (live,) = get_rule("metric-chance")(run, live=True)
    assert live.severity == "info" and "too early" in live.message
    (done,) = get_rule("metric-chance")(run)
    assert done.severity == "error"


def test_a_log_that_starts_mid_run_gets_no_warmup_and_says_so(tmp_path):
    text = DETR3D.read_text().splitlines()
    first = next(i for i, line in enumerate(text) if "Epoch [13][" in line)
    header = [line for line in text[:first] if "Epoch [" not in line and "Epoch(val)" not in line]
    (tmp_path / DETR3D.name).write_text("\n".join(header + text[first:]) + "\n")
    run = parsers.read(str(tmp_path / DETR3D.name))
    from bevlog.rules._common import signals

    assert signals(run).mid_run and signals(run).warmup_iters in (None, 500)  # the config's own, never inferred
    d = diagnose(run)
    assert [f.kind for f in d.findings if f.rule == "log-integrity"] == ["mid_run"]
    assert not [f for f in d.findings if f.rule in ("warmup", "no-takeoff")]


@pytest.mark.parametrize("columns", [80, 120, 400])
def test_diagnose_of_many_runs_ends_with_a_one_screen_summary(columns):
    """At the terminal's own width: every line fits, a run's headline continues under its name (never at
    column 0), at most two lines a run, fourteen lines in all, and the runs it does not name are counted.
    The runs: 13 of the earlier sweep, more of them broken (the lr 5x the recipe's, cyclic) than the
    summary has room to name."""
    seeds = REPO / "fixtures" / "runs" / "seeds"
    paths = sorted(map(str, [*seeds.glob("lr-5e-3*"), *seeds.glob("cyclic-5x-s*"), seeds / "base-s0"]))
    assert len(paths) == 13
    res = CliRunner().invoke(cli, ["diagnose", *paths, "-j", "2"], env={"NO_COLOR": "1", "COLUMNS": str(columns)})
    assert res.exit_code in (0, 1), res.stderr
    lines = res.stdout.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("summary: "))
    summary = lines[start:]
    assert len(summary) <= 14 and re.match(r"summary: \d+ runs — ", summary[0])
    assert all(len(line) <= columns for line in summary)
    body = summary[1:]
    assert all(line.startswith(("  ✗ ", "    ", "  … and ")) for line in body)
    named = [line for line in body if line.startswith("  ✗ ")]
    more = [int(m.group(1)) for line in body for m in [re.match(r"  … and (\d+) more broken runs above", line)] if m]
    total = int(re.search(r"(\d+) broken", summary[0]).group(1))
    assert named and len(named) + sum(more) == total
    assert more or columns > 80  # at 80 columns, two lines a run: not all 8 broken runs fit
    assert all(
        not body[i + 1].startswith("    ") or not body[i + 2].startswith("    ")
        for i in range(len(body) - 2)
        if body[i].startswith("  ✗ ")
    )


def test_the_html_report_shows_the_same_verdict_and_plan():
    import html

    from bevlog.report import build_report

    run = parsers.read(str(LRX10))
    d = diagnose(run)
    page = build_report([run], findings=d.findings)
    assert 'id="verdicts"' in page
    assert html.escape(d.judged.line.split(" — ", 1)[1], quote=True) in page


def test_attention_collapse_builds_no_layers_frame_on_a_log_without_statistics():
    from bevlog.rules import get_rule

    run = parsers.read(str(DETR3D))
    assert get_rule("attention-collapse")(run) == []
    built = run.__dict__["_layers"]
    assert callable(built) and not hasattr(built, "columns")  # still the lazy builder


def test_a_live_log_short_of_its_first_decay_still_gets_the_schedule_warning():
    """bevlog watch on the GLIP launch cut at epoch 0.7: the run is still going and will reach the end
    with no decay, so the schedule is a warning there, not a note for a rerun."""
    from bevlog.rules import get_rule

    (live,) = get_rule("schedule")(_nohup("20240915_211009"), live=True)
    assert live.severity == "warning" and "before_rerun" not in live.evidence
