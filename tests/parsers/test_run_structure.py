"""Run structure as evidence (issue 17): launches appended to one file are segments, each with
its own config; evaluations are never de-duplicated across launches; a log that starts
mid-run says so; a run captured twice is one run; how each launch ended, which evaluations
produced nothing and why, resumes of resumes, and the evidence behind the GPU count. Real
logs of fixtures/real (set2 README), and files derived from them in a temporary folder;
every count below is established from the files themselves (the greps in the docstrings)."""

import json
import re

import numpy as np
from repo_paths import REAL_SET1, REAL_SET2

import parsers

TCT = REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
NOHUP = REAL_SET2 / "STEALMOO__CAICON__nohup.out"
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
WOX = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__20230211_201914.log"
WOX_SLURM = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__slurm-300830.out"
VOC = REAL_SET2 / "zhaoyang97__mmdetection__20201029_114818.log"
IFCOS = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco"
NOT_METRICS = ("mode", "epoch", "iter", "lr", "time", "data_time", "memory")


def _val_values(data: bytes) -> int:
    """Numeric metric values of the val rows of an mmcv .log.json (what a grep for
    `"mode": "val"` rows and their number fields counts)."""
    n = 0
    for line in data.decode().splitlines():
        row = json.loads(line)
        if row.get("mode") == "val":
            n += sum(isinstance(v, (int, float)) for k, v in row.items() if k not in NOT_METRICS)
    return n


def _runs(*paths, notes=None):
    runs, problems = parsers.read_paths([str(p) for p in paths], jobs=1, progress=False, notes=notes)
    assert problems == []
    return runs


def test_launches_appended_to_one_json_are_segments_with_their_own_config(tmp_path):
    """set2 README #7: the NaN attempt (`step=[8, 11]`) and its resume from epoch 4
    (`step=[2, 4, 6, 8, 10]`), appended to one `.log.json` as a script re-run with one file
    name writes them: two launches, each with its config, stitched into one run by the resume
    (its config's `resume_from`, its rows starting at epoch 5) exactly as the two files are."""
    first, second = (TCT / "20211207_135738.log.json").read_bytes(), (TCT / "20211207_235354.log.json").read_bytes()
    wd = tmp_path / "work"
    wd.mkdir()
    (wd / "train.log.json").write_bytes(first + second)
    segs = parsers.read_file(str(wd / "train.log.json"))
    assert [s.rows for s in segs] == [first.count(b'"mode": "train"'), second.count(b'"mode": "train"')] == [750, 600]
    assert ["step=[8, 11]" in s.config_text for s in segs] == [True, False]
    assert ["step=[2, 4, 6, 8, 10]" in s.config_text for s in segs] == [False, True]
    assert [(s.launch.first_line, s.launch.last_line) for s in segs] == [(1, 760), (761, 1369)]
    (run,) = _runs(wd)
    (apart,) = _runs(TCT)
    assert len(run.meta.segments) == 2 and run.meta.lr_schedule.steps == (2, 4, 6, 8, 10)
    assert len(run.train) == len(apart.train) == 900 and run.meta.replaced_rows == apart.meta.replaced_rows == 450
    assert len(run.evals) == len(apart.evals) == _val_values(first) + _val_values(second) == 78


def test_evaluations_are_never_de_duplicated_across_launches():
    """Epoch 5 was evaluated by the NaN attempt and again by the resume: two evaluations,
    told apart by their launch (`segment`)."""
    (run,) = _runs(TCT)
    e5 = run.evals[(run.evals.metric == "bbox_mAP") & (run.evals.epoch == 5)]
    assert list(e5.segment) == [0, 1] and len(set(e5.value)) == 2
    assert list(run.evals.columns) == parsers.EVALS_COLUMNS


def test_a_log_that_starts_mid_run_says_so(tmp_path):
    """The DETR3D log with its header but without epochs 1-12 (and no resume line): a log
    that starts at epoch 13. The whole log, and a log that states its resume, do not."""
    lines = DETR3D.read_text().split("\n")
    first = next(i for i, line in enumerate(lines) if "Epoch [1][50/7033]" in line)
    e13 = next(i for i, line in enumerate(lines) if "Epoch [13][50/7033]" in line)
    cut = tmp_path / DETR3D.name
    cut.write_text("\n".join(lines[:first] + lines[e13:]))
    run = parsers.read(str(cut))
    assert run.train["epoch"].iloc[0] == 13 and run.meta.starts_mid_run
    assert not parsers.read(str(DETR3D)).meta.starts_mid_run
    resumed = parsers.read(str(REAL_SET2 / "CVIU-CSU__EPCPE__20240302_182333.log"))  # `resumed epoch: 64`
    assert resumed.meta.segments[0].resumed_from is not None and not resumed.meta.starts_mid_run


def test_a_run_captured_twice_is_read_once_and_the_copy_named(tmp_path):
    """set2 README #2/#3: the mmengine log and the slurm capture of the same run (100 train
    lines each): one run, the copy named in a note and in the run's meta."""
    for src in (WOX, WOX_SLURM):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    notes: list[str] = []
    (run,) = _runs(tmp_path, notes=notes)
    assert len(run.train) == WOX.read_text().count("mmengine - INFO - Iter(train)") == 100
    assert run.meta.sources == (str(tmp_path / WOX.name),) and run.meta.copies == (str(tmp_path / WOX_SLURM.name),)
    assert notes == [
        f"{tmp_path / WOX_SLURM.name}: the same run as {run.name} ({tmp_path / WOX.name}), a copy of its log: read once"
    ]
    assert parsers.read(str(WOX)).meta.capture == parsers.read(str(WOX_SLURM)).meta.capture


def test_evaluations_that_produced_nothing_are_kept_with_their_error():
    """STEALMOO @20240915_040439 (retinanet_r18): its 4 evaluations log `The testing results
    of the whole dataset is empty.` (grep -n: lines 6808, 7153, 7498, 7842), then an
    `Epoch(val) [k][410/410]` line with only data_time/time, at epochs 2, 4, 6, 8."""
    lines = NOHUP.read_text(errors="replace").split("\n")
    errors = [i + 1 for i, line in enumerate(lines) if "The testing results of the whole dataset is empty" in line]
    assert errors == [6808, 7153, 7498, 7842]
    (run,) = [r for r in _runs(NOHUP) if r.name.endswith("@20240915_040439")]
    empty = run.meta.empty_evaluations
    assert [e.epoch for e in empty] == [2, 4, 6, 8]
    assert [e.where for e in empty] == [f"{NOHUP}:{n + 1}" for n in errors]
    assert all(e.error.endswith("The testing results of the whole dataset is empty.") for e in empty)
    assert [e.step for e in empty] == [k * run.meta.iters_per_epoch for k in (2, 4, 6, 8)]
    assert len(run.evals) == 0


def test_each_launch_says_how_it_ended():
    """The effb3 run's resumes (set2 README #1): some die at once of CUDA out of memory and a
    cuDNN error; its last launch stops mid-epoch (`[32][11200/15169]`, no final line)."""
    (run,) = [r for r in _runs(NOHUP) if r.name.endswith("@20240915_105522")]
    ended = [s.ended for s in run.meta.segments]
    assert any(e.startswith("traceback: RuntimeError: CUDA out of memory.") for e in ended)
    assert any(e.startswith("traceback: RuntimeError: cuDNN error: CUDNN_STATUS_INTERNAL_ERROR") for e in ended)
    assert ended[-1] == "stopped" and run.meta.ended == "stopped"


def test_a_row_re_run_by_a_resume_of_a_resume_is_superseded():
    """effb3: the launch resumed from epoch 7 logged step 106,283 and died; a later launch
    resumed from the same checkpoint and logged it again: the earlier row is superseded (by
    the first launch that re-ran it), the run's steps are unique."""
    (run,) = [r for r in _runs(NOHUP) if r.name.endswith("@20240915_105522")]
    assert run.train["step"].is_unique and run.train["step"].is_monotonic_increasing
    row = run.superseded[run.superseded.step == 106283]
    assert len(row) == 1 and run.meta.segments[int(row.segment.iloc[0])].resumed_from.epoch == 7
    by = run.meta.segments[int(row.superseded_by.iloc[0])]
    assert by.resumed_from.epoch == 7 and by.first_step == 106283
    assert run.meta.replaced_rows == len(run.superseded) == sum(s.dropped_rows for s in run.meta.segments)


def test_the_gpu_count_says_its_evidence():
    """mmdet 2.5 under a distributed launcher left `gpu_ids = range(0, 1)` in its config (set2
    README #11: `Distributed training: True`); the VOC run's 6,207 iterations per epoch are
    ⌈3 × 16,551 / 8⌉ (RepeatDataset ×3 of VOC07+12 trainval): 4 GPUs × 2, the environment's
    list. A GPU list is the weakest evidence, and the meta says which one counted."""
    voc = parsers.read(str(VOC))
    text = VOC.read_text()
    assert "Distributed training: True" in text and "gpu_ids = range(0, 1)" in text and "times=3" in text
    assert voc.meta.iters_per_epoch == 6207 == int(np.ceil(3 * 16551 / (voc.meta.num_gpus * 2)))
    assert (voc.meta.num_gpus, voc.meta.num_gpus_from, voc.meta.gpus_listed) == (4, "environment GPU list", 4)
    tct = parsers.read(str(TCT))
    assert (tct.meta.num_gpus, tct.meta.num_gpus_from) == (4, "config gpu_ids")  # `gpu_ids = range(0, 4)`
    mmengine = parsers.read(str(WOX))
    assert (mmengine.meta.num_gpus, mmengine.meta.num_gpus_from) == (1, "GPU number")
    header_only = parsers.read(str(IFCOS / "20201016_162507.log"))  # `GPU 0,1,2,3,4,5,6,7`
    assert re.search(r"GPU 0,1,2,3,4,5,6,7:", (IFCOS / "20201016_162507.log").read_text())
    assert (header_only.meta.num_gpus_from, header_only.meta.gpus_listed) == ("environment GPU list", 8)
