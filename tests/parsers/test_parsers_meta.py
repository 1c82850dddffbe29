"""Run.meta is a typed, frozen `Meta`; resume boundaries, the later plan, odd runs (issue 10).

Counts below come from the files themselves (the grep commands are next to them).
"""

import dataclasses
import json
import pickle
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from parsers_testlib import FIXTURES
from repo_paths import REAL_SET2

import parsers
from parsers import META_KEYS, LrSchedule, Meta, ResumePoint, SegmentInfo, Segments, segment_starts

RESUME_EPOCH = FIXTURES / "mmcv_resume_epoch"  # killed in epoch 3, resumed from epoch_2.pth, 4 epochs x 33 iters
FASTER_RCNN = REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
TEST_DUMP = FIXTURES / "mmengine_epoch" / "20261128_050556" / "20261128_050556.json"


def _grep_count(pattern: str, path) -> int:
    out = subprocess.run(["grep", "-c", pattern, str(path)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


@pytest.fixture(scope="module")
def resumed():
    return parsers.read(str(RESUME_EPOCH))


# ---- typed, frozen, and still a read-only mapping ------------------------------------


def test_meta_is_typed(resumed):
    m = resumed.meta
    assert isinstance(m, Meta)
    assert (m.runner, m.max_epochs, m.iters_per_epoch, m.optimizer) == ("epoch", 4, 33, m["optimizer"])
    assert isinstance(m.lr_schedule, LrSchedule) and m.lr_schedule.warmup_iters == 10
    assert isinstance(m.segments, Segments) and len(m.segments) == 2
    assert all(isinstance(s, SegmentInfo) for s in m.segments)
    assert m.segments[1].resumed_from == ResumePoint(epoch=2, iter=66)  # `resumed epoch 2, iter 66`
    assert m.segments[0].resumed_from is None
    assert m.segments.dropped_rows == 3  # epoch 3 [5, 10, 15] of the first log re-run by the second
    assert isinstance(m.sources, tuple) and resumed.name == m.name


def test_meta_is_frozen(resumed):
    m = resumed.meta
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.total_batch = 16
    with pytest.raises(TypeError):
        m["total_batch"] = 16  # a Mapping, not a MutableMapping
    assert not hasattr(m, "update")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.lr_schedule.warmup_iters = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.segments[0].rows = 0
    # the mapping view hands out fresh plain objects: editing them leaves the Meta as it was
    view = m["segments"]
    view[0]["rows"] = -1
    m["lr_schedule"]["steps"].append(99)
    assert m.segments[0].rows == 12 and m.lr_schedule.steps == (3,)
    # a changed copy is a new Meta
    bigger = dataclasses.replace(m, total_batch=16)
    assert bigger.total_batch == 16 and m.total_batch != 16 and bigger.name == m.name


def test_meta_mapping_view_is_the_json_shape(resumed):
    m = resumed.meta
    assert list(m) == list(META_KEYS) and len(m) == len(META_KEYS)
    assert "total_batch" in m and "extra" not in m and "nope" not in m
    assert m.get("nope") is None and m.get("nope", 3) == 3
    with pytest.raises(KeyError):
        m["nope"]
    assert m["lr_schedule"] == {
        "policy": "step",
        "steps": [3],
        "warmup": "linear",
        "warmup_iters": 10,
        "warmup_ratio": m.lr_schedule.warmup_ratio,
        "by_epoch": True,
    }
    assert m["segments"][1]["resumed_from"] == {"epoch": 2, "iter": 66}
    assert m["sources"] == [str(RESUME_EPOCH / "20261128_050122.log"), str(RESUME_EPOCH / "20261128_050133.log")]
    plain = dict(m)
    assert all(isinstance(plain[k], (dict, list)) for k in ("lr_schedule", "segments", "sources", "skipped"))
    json.dumps({k: v for k, v in plain.items() if k != "config"}, allow_nan=False)
    # the view reads back into the same Meta: nothing is lost in the plain form
    assert Meta(**plain) == m


def test_every_meta_key_written_is_declared():
    """The parser builds a Meta by keywords: an undeclared key is an error, not a side channel."""
    with pytest.raises(TypeError):
        Meta(name="x", not_a_field=1)
    with pytest.raises(TypeError):
        Meta(name="x", lr_schedule={"policy": "step", "restart": True})
    with pytest.raises(TypeError):
        Meta(name="x", segments=[{"index": 0, "source": "a.log"}])  # SegmentInfo fields are all required
    assert Meta(name="x").segments == Segments() and Meta(name="x").ended == "unknown"


def test_run_pickles_and_crosses_a_process_pool(resumed):
    run = parsers.read(str(RESUME_EPOCH))  # layers not built yet: the lazy builder travels
    again = pickle.loads(pickle.dumps(run))
    assert again.meta == run.meta and isinstance(again.meta, Meta)
    assert again.layers.equals(run.layers) and again.eval_strings == run.eval_strings
    with ProcessPoolExecutor(1) as pool:
        back = pool.submit(parsers.read, str(RESUME_EPOCH)).result()
        facts = pool.submit(_facts, run).result()
    assert back.meta == resumed.meta and back.train.equals(resumed.train)
    assert facts == (4, (3,), 66, 12)


def _facts(run):
    m = run.meta
    return m.max_epochs, m.lr_schedule.steps, m.segments[1].resumed_from.iter, m.segments[1].rows


def test_run_has_no_side_channel(resumed):
    assert not hasattr(resumed, "extra")
    strings = [s for s in resumed.eval_strings if s["metric"] == "bbox_mAP_copypaste"]
    # grep -c "bbox_mAP_copypaste" on each log: 2 evaluations (epochs 2, 4) after the overlap
    assert [s["epoch"] for s in strings] == [2.0, 4.0]


# ---- segment boundaries in the frames ------------------------------------------------


def test_segment_start_marks_the_first_row_of_the_resume(resumed):
    t = resumed.train
    starts = segment_starts(t)
    assert starts.dtype == bool and len(starts) == len(t)
    # the second log's first train line is `Epoch [3][5/33]`: step 2*33 + 5
    first = "Epoch \\[3\\]\\[5/33\\]"
    assert _grep_count(first, RESUME_EPOCH / "20261128_050133.log") == 1
    assert np.flatnonzero(starts).tolist() == [12]
    assert t["step"].iloc[12] == 71 == resumed.meta.segments[1].first_step
    assert segment_starts(t.iloc[:12]).sum() == 0  # a single segment has no boundary
    assert segment_starts(t.iloc[0:0]).shape == (0,)


def test_segment_start_on_a_real_resume_whose_schedule_changed():
    """The resumed launch's config moved the lr steps from [8, 11] to [2, 4, 6, 8, 10]: its lr
    starts at 1e-3 where the first launch ran at 0.1. That jump is the resume."""
    run = parsers.read(str(FASTER_RCNN))
    later = FASTER_RCNN / "20211207_235354.log"
    assert _grep_count("step=\\[2, 4, 6, 8, 10\\])", later) == 1
    assert _grep_count("step=\\[8, 11\\])", FASTER_RCNN / "20211207_135738.log") == 1
    assert run.meta.lr_schedule.steps == (2, 4, 6, 8, 10)  # the later launch's plan
    t = run.train
    (row,) = np.flatnonzero(segment_starts(t))
    # first train line of the later log: `Epoch [5][50/3750]  lr: 1.000e-03` -> step 4*3750 + 50
    assert t["step"].iloc[row] == 15050 and t["lr"].iloc[row] == pytest.approx(1e-3)
    assert t["lr"].iloc[row - 1] == pytest.approx(0.1)
    assert _grep_count("Epoch \\[", later) == 600 == (t["segment"] == 1).sum()


# ---- odd runs --------------------------------------------------------------------------


def _copy_with_plans(tmp_path, first: int, later: int):
    """mmcv_resume_epoch's two text logs, their config and `max:` line edited to plan
    `first` and `later` epochs."""
    out = []
    for name, epochs in (("20261128_050122.log", first), ("20261128_050133.log", later)):
        text = (RESUME_EPOCH / name).read_text(encoding="utf-8")
        assert text.count("max_epochs=4)") == 1 and text.count("max: 4 epochs") == 1
        text = text.replace("max_epochs=4)", f"max_epochs={epochs})").replace("max: 4 epochs", f"max: {epochs} epochs")
        (tmp_path / name).write_text(text, encoding="utf-8")
        out.append(str(tmp_path / name))
    return out


def test_the_later_segments_plan_wins(tmp_path):
    files = _copy_with_plans(tmp_path, first=3, later=6)
    run = parsers.read(str(tmp_path))
    assert run.meta.max_epochs == 6
    assert run.meta.ended == "stopped"  # epoch 4 of 6
    assert run.meta.config["runner"]["max_epochs"] == 6
    # time order decides, not the order the files are given in
    (again,) = parsers.read_many(list(reversed(files)))
    assert again.meta.max_epochs == 6 and again.meta.sources == tuple(files)
    # and the other way round: a resume that shortened the plan to 4 finished it
    shorter = tmp_path / "shorter"
    shorter.mkdir()
    _copy_with_plans(shorter, first=6, later=4)
    assert parsers.read(str(shorter)).meta.max_epochs == 4
    assert parsers.read(str(shorter)).meta.ended == "finished"


HEADER_ONLY = [
    REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco" / "20241024_154827.log",
    REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco" / "20241024_161134.log",
    REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco" / "20201016_162507.log",
    REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco" / "20201016_165601.log",
]


@pytest.mark.parametrize("path", HEADER_ONLY, ids=lambda p: p.name)
def test_a_header_without_train_lines_ended_before_its_first_iteration(path):
    assert _grep_count("Epoch \\[", path) == 0 and _grep_count("Iter \\[", path) == 0
    assert _grep_count("Config:", path) == 1 and _grep_count("Distributed training", path) == 1  # a full header
    run = parsers.read(str(path))
    assert run.meta.config  # the full header was read
    assert len(run.train) == 0 and len(run.evals) == 0
    assert run.meta.ended == "before first iteration"


def test_a_log_cut_after_its_header_ended_before_its_first_iteration(tmp_path):
    text = (RESUME_EPOCH / "20261128_050122.log").read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(text) if "Epoch [1][5/33]" in line)
    path = tmp_path / "20261128_050122.log"
    path.write_text("\n".join(text[:first]) + "\n", encoding="utf-8")
    assert parsers.read(str(path)).meta.ended == "before first iteration"
    path.write_text("\n".join(text[: first + 1]) + "\n", encoding="utf-8")
    assert parsers.read(str(path)).meta.ended == "stopped"  # one row of epoch 1 of 4


def test_a_test_mode_dump_keeps_its_evaluation(tmp_path):
    """`runner.test()` writes `<ts>/<ts>.json`: one row of test metrics, no `step`."""
    lines = TEST_DUMP.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and '"step"' not in lines[0]
    row = json.loads(lines[0])
    run = parsers.read(str(TEST_DUMP))
    metrics = {k: v for k, v in row.items() if k not in ("time", "data_time")}
    assert len(run.train) == 0
    assert dict(zip(run.evals["metric"], run.evals["value"])) == metrics
    assert run.evals["step"].isna().all() and run.evals["epoch"].isna().all()
    assert run.meta.test_metrics == metrics
    assert run.meta.ended == "unknown"  # an evaluation, not a launch that died before training
    # next to its training log, the run's evaluations are the validation rows (test_metrics apart)
    full = parsers.read_many([str(FIXTURES / "mmengine_epoch")])
    assert [len(r.evals) for r in full] == [9] and full[0].meta.test_metrics == pytest.approx(metrics)


def test_a_test_line_after_training_without_validation_is_its_evaluation(tmp_path):
    """mmengine text: `Epoch(test)` after the train rows, no `Epoch(val)` rows left."""
    src = FIXTURES / "mmengine_epoch" / "20261128_050556" / "20261128_050556.log"
    kept = [line for line in src.read_text(encoding="utf-8").split("\n") if "Epoch(val)" not in line]
    d = tmp_path / "20261128_050556"
    d.mkdir()
    (d / "20261128_050556.log").write_text("\n".join(kept), encoding="utf-8")
    shutil.copy(TEST_DUMP, d / TEST_DUMP.name)
    run = parsers.read(str(d / "20261128_050556.log"))
    assert len(run.evals) == 3 and set(run.evals["metric"]) == set(run.meta.test_metrics)
    assert run.evals["step"].eq(run.train["step"].iloc[-1]).all()
