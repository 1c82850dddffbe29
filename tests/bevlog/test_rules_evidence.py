"""Diagnoses grounded in the run's own evidence (issue 11, part B): runs that learned nothing,
runs that never trained, every fp16 step skipped, the real crash cause, scale-aware
grad-spike, nuScenes components at chance, throughput. Each case must fire on a real log
(or an edited copy of one in tmp_path / the labelled variants) and must not fire on runs
that are fine. numpy warnings are errors here."""

import re
from pathlib import Path

import numpy as np
import pytest
from labelled_runs import DETR3D_TEXT, REPO, core, findings, run
from repo_paths import REAL_SET1, REAL_SET2

import parsers
from bevlog.diagnose import diagnose_run
from bevlog.rules import get_rule

pytestmark = pytest.mark.filterwarnings("error")

RUNS = f"{REPO}/fixtures/runs"
VOC_MAP_ZERO = REAL_SET2 / "zhaoyang97__mmdetection__20201026_160501.log"
VOC_CONTROL = REAL_SET2 / "zhaoyang97__mmdetection__20201029_114818.log"
CODETR = REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco" / "20241024_154827.log"
IFCOS = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco"


def rule(name, path):
    return get_rule(name)(parsers.read(str(path)))


# ---- metric-chance: a detection metric at chance is an error whatever the loss does ---------


def test_voc_map_zero_at_every_evaluation_is_an_error_although_the_loss_falls():
    (f,) = rule("metric-chance", VOC_MAP_ZERO)
    assert f.severity == "error" and f.evidence["kind"] == "dead"
    assert f.evidence["metric"] == "mAP" and f.evidence["values"] == [0.0, 0.0, 0.0, 0.0]
    assert f.evidence["loss_fall"] > 0.5  # the loss fell: the fix points at the evaluation side
    assert "mAP stayed at chance" in f.message and "class names" in f.fix.text


def test_map_zero_with_a_small_nds_is_an_error_on_the_map(tmp_path):
    """The issue's StreamPETR case (mAP 0.0000 / NDS 0.0154), made from the real DETR3D log by
    rewriting every evaluation's mAP and NDS: judged on mAP, not on the composite NDS."""
    text = Path(DETR3D_TEXT).read_text(encoding="utf-8")
    text = re.sub(r"(pts_bbox_NuScenes/mAP: )[0-9.]+", r"\g<1>0.0000", text)
    text = re.sub(r"(pts_bbox_NuScenes/NDS: )[0-9.]+", r"\g<1>0.0154", text)
    (tmp_path / "20230727_114037.log").write_text(text, encoding="utf-8")
    (f,) = [x for x in rule("metric-chance", tmp_path / "20230727_114037.log") if x.evidence["kind"] == "dead"]
    assert f.severity == "error" and f.evidence["metric"] == "pts_bbox_NuScenes/mAP"
    assert set(f.evidence["values"]) == {0.0}


@pytest.mark.parametrize("name", ["lr-3e-3", "lr-1e-2", "lr-1e-2-warmup1000"])
def test_bevdetr_runs_whose_map_stayed_zero_get_an_error(name):
    (f,) = rule("metric-chance", f"{RUNS}/{name}")
    assert f.severity == "error" and max(f.evidence["values"][1:]) <= 0.005
    assert "never started detecting" in f.fix.text  # the loss barely fell: optimisation, not evaluation


@pytest.mark.parametrize(
    "name", ["base", "lr-2e-4", "layers-2-lr-2e-4", "lr-5e-4", "batch-20", "aux-off", "lr-3e-3-warmup1000"]
)
def test_quiet_on_bevdetr_runs_that_learn_even_slowly(name):
    assert rule("metric-chance", f"{RUNS}/{name}") == []


@pytest.mark.slow  # all of fixtures/runs
def test_diagnose_errors_on_every_sweep_run_whose_map_stayed_zero(bundled_diagnoses):
    dead = set()
    for d in (d.to_dict() for d in bundled_diagnoses.values()):  # what `diagnose --format json` carries
        maps = [
            v
            for f in d["findings"]
            if f["rule"] == "metric-chance" and f["severity"] == "error"
            for v in f["evidence"]["values"]
        ]
        if maps:
            dead.add(d["run"])
    stayed_zero = set()
    for name in ("lr-3e-3", "lr-1e-2", "lr-1e-2-warmup1000", "base", "lr-2e-4"):
        ev = parsers.read(f"{RUNS}/{name}").evals
        values = ev.loc[ev["metric"] == "bevdetr/mAP", "value"].to_numpy()
        if values[1:].max() <= 0.005:
            stayed_zero.add(name)
    assert stayed_zero == {"lr-3e-3", "lr-1e-2", "lr-1e-2-warmup1000"}
    assert stayed_zero <= dead and not ({"base", "lr-2e-4"} & dead)


def test_a_metric_that_collapses_below_its_own_best_is_an_error():
    (f,) = [x for x in findings("variant/detr3d_map_collapse", "metric-chance") if x.evidence["kind"] == "collapse"]
    assert f.severity == "error" and f.evidence["best"] > 0.3 and f.evidence["last"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    "path",
    [
        VOC_CONTROL,
        REAL_SET2 / "CVIU-CSU__EPCPE__20240310_192200.log",
        REAL_SET2 / "boostcampaitech3__level2-object-detection-level2-cv-11__20220328_030936.log",
        IFCOS / "20201016_165717.log",
    ],
    ids=lambda p: p.name[:30],
)
def test_quiet_on_real_runs_that_learn(path):
    assert [f for f in rule("metric-chance", path) if f.evidence["kind"] != "component"] == []


# ---- nuScenes components at chance ----------------------------------------------------------


def test_detr3d_orientation_at_chance_is_a_warning_with_its_fix():
    """A headline metric's component at chance costs ~0.1 NDS: a warning at least, its fix shown."""
    (f,) = [x for x in findings("real/detr3d-text", "metric-chance") if x.evidence["kind"] == "component"]
    assert f.severity == "warning" and f.evidence["metric"].endswith("mAOE")
    assert all(abs(v - np.pi / 2) < 0.1 * np.pi / 2 for v in f.evidence["values"])
    assert len(f.evidence["values"]) == 12 and f.evidence["map"] > 0.3
    assert "yaw" in f.fix.text


def test_a_learned_orientation_is_not_noted(tmp_path):
    text = Path(DETR3D_TEXT).read_text(encoding="utf-8")
    text = re.sub(r"(pts_bbox_NuScenes/mAOE: )[0-9.]+", r"\g<1>0.4512", text)
    (tmp_path / "20230727_114037.log").write_text(text, encoding="utf-8")
    assert rule("metric-chance", tmp_path / "20230727_114037.log") == []


# ---- log-integrity: runs that never trained, and what a run really died of -----------------


def test_a_header_only_log_died_before_its_first_iteration():
    (f,) = [x for x in rule("log-integrity", CODETR) if x.evidence["kind"] == "never_trained"]
    assert f.severity == "error" and "before its first iteration" in f.message
    assert "Checkpoints will be saved to /co-detr/work_dirs" in f.evidence["last_lines"][-1]
    assert "Checkpoints will be saved" in f.message


@pytest.mark.parametrize("name", ["20201016_162507.log", "20201016_165601.log"])
def test_header_only_restarts_in_a_work_dir_are_errors(name):
    (f,) = [x for x in rule("log-integrity", IFCOS / name) if x.evidence["kind"] == "never_trained"]
    assert "load model from" in f.evidence["last_lines"][-1]


def test_a_log_with_evaluations_but_no_train_rows_did_not_die(tmp_path):
    """A test-mode dump evaluates without training: not 'died before its first iteration'."""
    lines = VOC_MAP_ZERO.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not re.search(r" - INFO - Epoch \[\d+\]\[", line)]
    (tmp_path / VOC_MAP_ZERO.name).write_text("".join(kept))
    r = parsers.read(str(tmp_path / VOC_MAP_ZERO.name))
    assert len(r.train) == 0 and len(r.evals) == 4
    assert [f for f in get_rule("log-integrity")(r) if f.evidence["kind"] == "never_trained"] == []


def test_a_trained_run_is_not_called_never_trained():
    assert [
        f for f in rule("log-integrity", IFCOS / "20201016_165717.log") if f.evidence["kind"] == "never_trained"
    ] == []


DATA_TIME_CRASH = """Traceback (most recent call last):
  File "tools/train.py", line 187, in <module>
    main()
  File "/opt/conda/lib/python3.8/site-packages/mmcv/runner/epoch_based_runner.py", line 127, in run
    epoch_runner(data_loaders[i], **kwargs)
  File "/opt/conda/lib/python3.8/site-packages/mmcv/runner/hooks/logger/text.py", line 173, in _log_info
    log_str += f'time: {log_dict["time"]:.3f}, data_time: {log_dict["data_time"]:.3f}, '
mAP: 0.4822
KeyError: 'data_time'
"""


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_the_crash_cause_is_the_exception_not_a_metric_printed_in_between(tmp_path, gz):
    """A console capture interleaves stdout with the traceback: the metric line printed between
    the last frame and the exception is not what the run died of."""
    import gzip

    lines = VOC_CONTROL.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "Epoch [3][6200/6207]" in line)
    data = ("".join(lines[: cut + 1]) + DATA_TIME_CRASH).encode()
    path = tmp_path / (VOC_CONTROL.name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    r = parsers.read(str(path))
    assert r.meta["ended"] == "traceback: KeyError: 'data_time'"
    (f,) = [x for x in get_rule("log-integrity")(r) if x.evidence["kind"] == "traceback"]
    assert f.severity == "error"
    assert f.evidence["exception_type"] == "KeyError" and f.evidence["exception_message"] == "'data_time'"
    assert f.evidence["raised_at"] == (
        'File "/opt/conda/lib/python3.8/site-packages/mmcv/runner/hooks/logger/text.py", line 173, in _log_info'
    )
    assert f.evidence["called_from"] == 'File "tools/train.py", line 187, in <module>'
    assert "mAP" not in f.message and "KeyError: 'data_time'" in f.message
    assert f.fix.text.startswith("fix the KeyError raised at mmcv/runner/hooks/logger/text.py:173")


TORCHRUN_TAIL = """  File "/opt/conda/lib/python3.8/site-packages/torch/distributed/elastic/\
multiprocessing/errors/__init__.py", line 345, in wrapper
    return f(*args, **kwargs)
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
tools/train.py FAILED
"""


def test_a_launcher_that_reports_a_failed_worker_points_at_the_worker(tmp_path):
    """torchrun's ChildFailedError comes last; the worker's own traceback before it is the cause."""
    lines = VOC_CONTROL.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "Epoch [3][6200/6207]" in line)
    path = tmp_path / VOC_CONTROL.name
    path.write_text(
        "".join(lines[: cut + 1]) + DATA_TIME_CRASH + "Traceback (most recent call last):\n" + TORCHRUN_TAIL
    )
    (f,) = [x for x in rule("log-integrity", path) if x.evidence["kind"] == "traceback"]
    assert f.evidence["exception"] == "KeyError: 'data_time'" and "text.py" in f.evidence["raised_at"]


def test_a_header_only_log_that_crashed_names_the_exception(tmp_path):
    path = tmp_path / CODETR.name
    path.write_text(CODETR.read_text() + DATA_TIME_CRASH.replace("mAP: 0.4822\n", ""))
    (f,) = [x for x in rule("log-integrity", path) if x.evidence["kind"] == "never_trained"]
    assert f.evidence["exception"] == "KeyError: 'data_time'" and "with KeyError" in f.message


# ---- grad-nonfinite: fp16 with every step skipped ----------------------------------------


def test_every_step_overflowing_under_a_static_loss_scale_is_an_error():
    (f,) = findings("variant/streampetr_fp16_static_skip", "grad-nonfinite")
    assert f.severity == "error" and f.evidence["kind"] == "every_step"
    assert f.evidence["inf_rows"] == f.evidence["rows"] == 200 and abs(f.evidence["loss_change"]) < 0.05
    assert "static fp16 loss scale 512" in f.message
    assert core(f.fix.changes) == [{"param": "fp16_loss_scale", "from": 512.0, "to": "dynamic"}]


def test_a_static_loss_scale_that_works_is_left_alone():
    """Static scale 512, no grad_norm logged (clipping off): NaN is 'not logged', not overflow."""
    path = REAL_SET2 / "boostcampaitech3__level2-object-detection-level2-cv-11__20220328_030936.log"
    assert rule("grad-nonfinite", path) == []


def test_inf_everywhere_while_the_loss_falls_is_not_every_step_skipped(tmp_path):
    """The real StreamPETR log with grad_norm inf on every row: its loss falls, so steps were applied."""
    src = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
    text = re.sub(r"grad_norm: [0-9.]+|grad_norm: nan", "grad_norm: inf", src.read_text())
    (tmp_path / src.name).write_text(text)
    assert [f for f in rule("grad-nonfinite", tmp_path / src.name) if f.evidence.get("kind") == "every_step"] == []


# ---- grad-spike: judged at the run's own scale ---------------------------------------------


def test_tiny_gradients_logged_at_four_decimals_are_not_spikes():
    fs = findings("variant/detr3d_small_grad", "grad-spike")
    g = run("variant/detr3d_small_grad").train["grad_norm"]
    assert g.max() <= 0.0006 and g.median() <= 0.0001 and (g == 0).any()  # the trap: a few rounding steps
    assert [f for f in fs if f.severity != "info"] == []


@pytest.mark.parametrize("scale", [1e-5, 1e-2])
def test_the_real_spike_is_the_same_note_at_a_smaller_scale(tmp_path, scale):
    """The DETR3D run's one ×5.6 spike, with grad_norm ×1e-5 (median 0.0009, 9 rounding steps)
    or ×1e-2: still one info note at epoch 13."""
    text = re.sub(
        r"grad_norm: ([0-9.]+)",
        lambda m: f"grad_norm: {float(m.group(1)) * scale:.4f}",
        Path(DETR3D_TEXT).read_text(encoding="utf-8"),
    )
    (tmp_path / "20230727_114037.log").write_text(text, encoding="utf-8")
    fs = rule("grad-spike", tmp_path / "20230727_114037.log")
    assert [(f.severity, round(f.start_epoch)) for f in fs] == [("info", 13)]


def test_spikes_are_the_same_at_any_gradient_scale_and_the_clip_fits_the_run(tmp_path):
    """streampetr_spikes with every grad_norm ×1e-3 (4 decimals kept) and clipping off in the
    config: the same two events, and a clip suggestion near the run's values, not 35."""
    import gzip

    from labelled_runs import VARIANTS

    src = f"{VARIANTS}/streampetr_spikes/20230725_174411.log.gz"
    text = gzip.decompress(Path(src).read_bytes()).decode()
    text = re.sub(r"grad_norm: ([0-9.]+)", lambda m: f"grad_norm: {float(m.group(1)) * 1e-3:.4f}", text)
    text = text.replace("grad_clip=dict(max_norm=35, norm_type=2))", "grad_clip=None)")
    (tmp_path / "20230725_174411.log").write_text(text)
    r = parsers.read(str(tmp_path / "20230725_174411.log"))
    small = {f.start_step: f for f in get_rule("grad-spike")(r)}
    big = {f.start_step: f for f in findings("variant/streampetr_spikes", "grad-spike")}
    # the same events, judged the same (a clip in the config changes only whether the loss-ignored
    # explosion is a note: here the config's clip is removed)
    assert {s: (f.evidence["kind"], round(f.evidence["peak_ratio"])) for s, f in small.items()} == {
        s: (f.evidence["kind"], round(f.evidence["peak_ratio"])) for s, f in big.items()
    }
    g = r.train["grad_norm"].to_numpy(float)
    clips = [c["to"] for f in small.values() for c in f.fix.changes if c["param"] == "grad_clip"]
    assert clips and all(c <= 3 * np.nanmax(g[np.isfinite(g)]) for c in clips)


def test_no_numpy_warning_reaches_the_user():
    """The installed command on tiny gradients and on every-step-inf gradients: stderr stays clean."""
    import os
    import subprocess
    import sys

    from labelled_runs import VARIANTS

    env = dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS="default")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bevlog",
            "diagnose",
            f"{VARIANTS}/detr3d_small_grad",
            f"{VARIANTS}/streampetr_fp16_static_skip",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "verdict:" in proc.stdout


@pytest.mark.parametrize(
    "name",
    [
        "CVIU-CSU__EPCPE__20240310_192200.log",
        "CVIU-CSU__EPCPE__20240302_182333.log",
        "CVIU-CSU__EPCPE__20240308_185617",
    ],
)
def test_clip_point_one_with_grad_norm_in_the_hundreds(name):
    """EPCPE clips at 0.1 while its grad_norm (before clipping) is ~40-600: the rules neither call
    that a spike nor suggest another clip."""
    fs = rule("grad-spike", REAL_SET2 / name)
    assert [f for f in fs if f.severity != "info"] == []
    assert not [c for f in fs for c in f.fix.changes if c["param"] == "grad_clip"]


# ---- throughput --------------------------------------------------------------------------


def _cal_train_time(path):
    """s/iter as mmdet's analyze_logs.py cal_train_time computes it, from the text lines."""
    per_epoch = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = re.search(r" - INFO - Epoch \[(\d+)\]\[\d+/\d+\]\t.*?\btime: ([0-9.]+)", line)
        if m:
            per_epoch.setdefault(int(m.group(1)), []).append(float(m.group(2)))
    kept = {e: v[1:] for e, v in per_epoch.items()}
    means = {e: float(np.mean(v)) for e, v in kept.items()}
    return float(np.mean(np.concatenate(list(kept.values())))), max(means, key=means.get), min(means, key=means.get)


@pytest.mark.parametrize("path", [DETR3D_TEXT, str(VOC_CONTROL)], ids=["detr3d", "voc"])
def test_iteration_time_matches_cal_train_time(path):
    from bevlog.summary import run_summary

    mean, slowest, fastest = _cal_train_time(path)
    s = run_summary(parsers.read(path))
    assert s["s_per_iter"] == pytest.approx(mean, rel=1e-9)
    assert (s["slowest_epoch"], s["fastest_epoch"]) == (slowest, fastest)


def test_parse_table_shows_seconds_per_iteration():
    from click.testing import CliRunner

    from bevlog.cli import cli
    from bevlog.summary import iteration_time_text, run_summary

    result = CliRunner().invoke(cli, ["parse", "--wide", DETR3D_TEXT])  # every column
    assert result.exit_code == 0
    assert "s/iter" in result.output
    assert iteration_time_text(run_summary(parsers.read(DETR3D_TEXT))) in result.output


@pytest.mark.parametrize(
    "path",
    [
        DETR3D_TEXT,
        str(
            REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_"
            "tctplus_imagenetinit_lrx10" / "20211207_135738.log"
        ),
    ],
    ids=["detr3d", "tctplus"],
)
def test_dataloader_bound_runs_are_noted_with_the_numbers(path):
    (f,) = rule("dataloader-bound", path)
    r = parsers.read(path)
    share = np.median(r.train["data_time"]) / np.median(r.train["time"])
    assert f.severity == "info" and f.evidence["share"] == pytest.approx(share) and share >= 0.3
    assert f"{share:.0%}" in f.message


@pytest.mark.parametrize(
    "path",
    [
        REAL_SET2 / "CVIU-CSU__EPCPE__20240310_192200.log",
        REAL_SET2 / "XueSongTap__mmdetection3d__20231003_125657",
        REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log",
    ],
    ids=lambda p: p.name[:30],
)
def test_not_dataloader_bound(path):
    assert rule("dataloader-bound", path) == []


def test_memory_that_keeps_growing_is_noted():
    (f,) = findings("variant/detr3d_memory_leak", "memory-growth")
    assert f.severity == "info" and f.evidence["growth"] > 0.15 and f.evidence["late_growth"] > 0.03


@pytest.mark.slow  # every real log
def test_memory_growth_is_quiet_on_every_real_log():
    """Peaks that rise in steps and level off (StreamPETR +18%, then flat) are not leaks."""
    import corpus

    from parsers import ParseError

    checked = 0
    for e in corpus.entries():
        if e["kind"] != "real":
            continue
        try:
            r = run(e["id"])
        except ParseError:
            assert e.get("not_readable_yet")
            continue
        assert get_rule("memory-growth")(r) == [], e["id"]
        checked += 1
    assert checked >= 25


@pytest.mark.slow  # every labelled real log
def test_the_new_rules_speak_only_where_the_labels_say_on_real_logs():
    """No error from the new rules on a real log that the labels call healthy."""
    import corpus

    from parsers import ParseError

    for e in corpus.entries():
        if e["kind"] != "real" or not e.get("healthy"):
            continue
        try:
            fs = diagnose_run(run(e["id"]))
        except ParseError:
            continue
        assert [
            f for f in fs if f.rule in ("metric-chance", "dataloader-bound", "memory-growth") and f.severity == "error"
        ] == [], e["id"]


def test_a_launch_inside_a_capture_is_judged_by_its_own_last_lines():
    # nohup.out (set2 README #1): the launch of 09/17 01:30 died loading its annotations
    # (`AssertionError: Annotation ids ... are not unique!`) before its first iteration; the
    # file goes on with other launches. Its finding quotes its own traceback, not the file's end.
    runs, _ = parsers.read_paths([REAL_SET2 / "STEALMOO__CAICON__nohup.out"])
    run = next(r for r in runs if r.name.endswith("@20240917_013052"))
    found = [f for f in diagnose_run(run) if f.rule == "log-integrity" and f.evidence.get("kind") == "never_trained"]
    assert len(found) == 1 and found[0].severity == "error"
    ev = found[0].evidence
    assert ev["exception_type"] == "AssertionError" and "not unique" in ev["exception"]
    assert "coco.py" in ev["raised_at"]
    assert not any("Epoch(train) [32]" in line for line in ev["last_lines"])
