"""Run identity from evidence: only a real resume stitches; separate attempts stay separate.

Small work dirs are cut from real logs in tmp_path (the real DETR3D log, the mmcv/mmengine
resume fixtures that the real libraries wrote); the second set of real logs holds a work dir
of six separate launches, a real mmcv resume and two header-only launches. Expected counts
come from grepping the files' own lines, as the set2 README does.
"""

import re
import shutil

import numpy as np
import pytest
from parsers_testlib import DETR3D, FIXTURES, real
from repo_paths import REAL_SET2

import parsers

TRAIN_LINE = re.compile(rb" - INFO - (?:Epoch|Iter) \[(\d+)\]\[")
HEADER_END = b"Checkpoints will be saved to"
IFCOS = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco"
TCT = REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
CODETR = REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco"
EPCPE_RESUME = REAL_SET2 / "CVIU-CSU__EPCPE__20240302_182333.log"


def _write(path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _train_lines(data: bytes) -> int:
    return len(TRAIN_LINE.findall(data))


@pytest.fixture(scope="module")
def detr3d():
    """(header, body) of the real DETR3D log and the byte offsets where epochs 2..5 start."""
    data = real(f"{DETR3D}.log").read_bytes()
    head_end = data.index(b"\n", data.index(HEADER_END)) + 1
    header, body = data[:head_end], data[head_end:]
    starts = {e: body.rindex(b"\n", 0, body.index(b"Epoch [%d][" % e)) + 1 for e in (2, 3, 4, 5)}
    return header, body, starts


def _later(data: bytes, day: bytes) -> bytes:
    return data.replace(b"2023-07-27 ", day + b" ")


def test_two_attempts_of_one_config_stay_two_runs_with_all_their_rows(tmp_path, detr3d):
    """The reported bug: two launches in one work dir, both from step 50, another lr, no
    resume record. Before, the earlier attempt's rows were gone and one run came out."""
    header, body, at = detr3d
    first = header + body[: at[4]]  # epochs 1-3
    second = _later(header.replace(b"lr=0.0002,", b"lr=0.0004,"), b"2023-07-28") + _later(body[: at[3]], b"2023-07-28")
    wd = tmp_path / "detr3d"
    _write(wd / "20230727_114037.log", first)
    _write(wd / "20230728_090000.log", second)
    runs, problems = parsers.read_paths([str(wd)])
    assert problems == []
    assert [r.name for r in runs] == ["detr3d@20230727_114037", "detr3d@20230728_090000"]
    assert [len(r.train) for r in runs] == [_train_lines(first), _train_lines(second)] == [420, 280]
    for run in runs:
        assert run.meta["replaced_rows"] == 0 and len(run.meta["segments"]) == 1
        assert run.train["step"].iloc[0] == 50
    assert [r.meta["started"] for r in runs] == ["20230727_114037", "20230728_090000"]
    # the same two files named on the command line: the same two runs
    again, _ = parsers.read_paths(sorted(str(p) for p in wd.iterdir()))
    assert [(r.name, len(r.train)) for r in again] == [(r.name, len(r.train)) for r in runs]


def test_a_resume_line_stitches_and_the_replaced_overlap_is_counted(tmp_path, detr3d):
    header, body, at = detr3d
    killed = body.index(b"\n", body.index(b"Epoch [3][3000/7033]")) + 1
    first = header + body[:killed]
    resume = b"2023-07-28 10:00:00,000 - mmdet - INFO - resumed epoch 2, iter 14066\n"
    second = _later(header, b"2023-07-28") + resume + body[at[3] : at[5]]
    wd = tmp_path / "detr3d"
    _write(wd / "20230727_114037.log", first)
    _write(wd / "20230728_100000.log", second)
    (run,), problems = parsers.read_paths([str(wd)])
    assert problems == [] and run.name == "detr3d"
    overlap = _train_lines(body[at[3] : killed])  # epoch 3 up to [3000] was logged twice
    assert overlap == 60
    assert run.meta["replaced_rows"] == overlap == run.meta["segments"][0]["dropped_rows"]
    assert len(run.train) == _train_lines(first) + _train_lines(second) - overlap
    assert run.train["step"].is_unique and run.train["step"].is_monotonic_increasing


def test_without_a_record_only_continuing_steps_of_the_same_config_stitch(tmp_path, detr3d):
    header, body, at = detr3d
    first = header + body[: at[3]]
    rest = _later(body[at[3] : at[5]], b"2023-07-28")
    same = tmp_path / "same" / "detr3d"
    _write(same / "20230727_114037.log", first)
    _write(same / "20230728_100000.log", _later(header, b"2023-07-28") + rest)
    (run,), _ = parsers.read_paths([str(same)])
    assert len(run.train) == _train_lines(first) + _train_lines(rest) and run.meta["replaced_rows"] == 0
    assert len(run.meta["segments"]) == 2
    other = tmp_path / "other" / "detr3d"
    _write(other / "20230727_114037.log", first)
    _write(other / "20230728_100000.log", _later(header.replace(b"lr=0.0002,", b"lr=0.0004,"), b"2023-07-28") + rest)
    runs, _ = parsers.read_paths([str(other)])
    assert [len(r.train) for r in runs] == [_train_lines(first), _train_lines(rest)]


def test_a_resume_joins_the_run_that_reached_its_checkpoint(tmp_path, detr3d):
    """Launch 1 trains into epoch 3, launch 2 dies in its header (a separate attempt),
    launch 3 resumes from epoch 2's checkpoint: it continues launch 1, not launch 2."""
    header, body, at = detr3d
    wd = tmp_path / "detr3d"
    _write(wd / "20230727_114037.log", header + body[: at[4]])
    _write(wd / "20230728_080000.log", _later(header, b"2023-07-28"))
    resume = b"2023-07-28 10:00:00,000 - mmdet - INFO - resumed epoch 2, iter 14066\n"
    _write(
        wd / "20230728_100000.log", _later(header, b"2023-07-28") + resume + _later(body[at[3] : at[4]], b"2023-07-28")
    )
    runs, _ = parsers.read_paths([str(wd)])
    assert [r.name for r in runs] == ["detr3d@20230727_114037", "detr3d@20230728_080000"]
    assert [len(r.meta["segments"]) for r in runs] == [2, 1]
    assert len(runs[0].train) == _train_lines(body[: at[4]]) and runs[0].meta["replaced_rows"] == 140
    assert len(runs[1].train) == 0


def _copy(src, dst, pattern="*"):
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.glob(pattern):
        shutil.copy(p, dst / p.name)
    return dst


def test_mmcv_json_checkpoint_meta_is_a_resume_record(tmp_path):
    """json twins alone: the resumed launch's first line is the checkpoint's meta."""
    wd = _copy(FIXTURES / "mmcv_resume_epoch", tmp_path / "wd", "*.log.json")
    (run,), problems = parsers.read_paths([str(wd)])
    assert problems == [] and run.meta["format"] == "mmcv-json"
    seg = run.meta["segments"]
    assert seg[1]["resumed_from"] == {"epoch": 2, "iter": 66}
    texts = sorted((FIXTURES / "mmcv_resume_epoch").glob("*.log.json"))
    rows = [sum('"mode": "train"' in line for line in p.read_text().splitlines()) for p in texts]
    assert len(run.train) == sum(rows) - run.meta["replaced_rows"] and run.meta["replaced_rows"] > 0


def test_mmengine_resume_line_and_resume_true_stitch(tmp_path):
    src = FIXTURES / "mmengine_resume"
    (run,), _ = parsers.read_paths([str(src)])
    assert len(run.meta["segments"]) == 2 and run.meta["segments"][1]["resumed_from"] == {"epoch": 2, "iter": 46}
    # the vis_data json alone has no resume line: `resume = True` in its config.py and rows
    # that start past the first epoch are the record
    wd = tmp_path / "mme"
    shutil.copytree(src, wd)
    for log in wd.glob("*/*.log"):
        log.unlink()
    (js,), _ = parsers.read_paths([str(wd)])
    assert len(js.meta["segments"]) == 2 and len(js.train) == len(run.train)
    assert js.meta["replaced_rows"] == run.meta["replaced_rows"] > 0


def test_real_mmengine_resume_whose_earlier_launch_is_missing():
    data = EPCPE_RESUME.read_bytes()
    (run,), _ = parsers.read_paths([str(EPCPE_RESUME)])
    assert run.meta["segments"][0]["resumed_from"] == {"epoch": 64, "iter": 32832}
    assert len(run.train) == data.count(b"- mmengine - INFO - Epoch(train)") == 1360


def test_real_work_dir_of_six_launches_is_six_runs():
    runs, problems = parsers.read_paths([str(IFCOS)])
    assert problems == []
    logs = sorted(IFCOS.glob("*.log"))
    assert [r.name for r in runs] == [f"zhaoyang97__mmdetection__ifcos_moco@{p.stem}" for p in logs]
    assert [len(r.train) for r in runs] == [_train_lines(p.read_bytes()) for p in logs] == [0, 2, 8, 1, 0, 444]
    assert all(r.meta["replaced_rows"] == 0 for r in runs)


def test_real_mmcv_resume_is_one_run_the_later_rows_win():
    (run,), problems = parsers.read_paths([str(TCT)])
    assert problems == []
    first, second = (p.read_bytes() for p in sorted(TCT.glob("*.log")))
    assert b"resumed epoch 4, iter 15000" in second
    epochs_first = [int(e) for e in TRAIN_LINE.findall(first)]
    replaced = sum(e >= 5 for e in epochs_first)  # the resumed launch starts at [5][50]
    assert (len(epochs_first), replaced, _train_lines(second)) == (750, 450, 600)
    assert run.meta["replaced_rows"] == replaced
    assert len(run.train) == 750 - replaced + 600
    assert list(run.meta["segments"][1]["resumed_from"].values()) == [4, 15000]
    assert set(run.train[run.train.epoch >= 5].segment) == {1}
    assert not np.isnan(run.train[run.train.epoch >= 5].loss).any()  # the nan rows of launch 1 were replaced


def test_real_header_only_launches_are_two_runs():
    runs, problems = parsers.read_paths([str(CODETR)])
    assert problems == []
    assert [r.name for r in runs] == [
        "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco@20241024_154827",
        "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco@20241024_161134",
    ]
    assert [len(r.train) for r in runs] == [0, 0]


def test_runs_of_one_name_in_two_places_are_named_apart(tmp_path):
    """Two runs of one name (the second relaunched a day later: other clocks, so not a copy
    of the first, which would be read once: parsers.captures)."""
    src = real(f"{DETR3D}.log")
    _write(tmp_path / "a" / src.name, src.read_bytes())
    _write(tmp_path / "b" / src.name, src.read_bytes().replace(b"2023-07-27 ", b"2023-07-28 "))
    runs, _ = parsers.read_paths([str(tmp_path / "b"), str(tmp_path / "a")])
    assert [r.name for r in runs] == ["b/PrymceQ__3DDetection_DETR3D", "a/PrymceQ__3DDetection_DETR3D"]
    assert set(runs[0].train["run"]) == {"b/PrymceQ__3DDetection_DETR3D"}


def test_one_unreadable_file_of_a_run_does_not_stop_the_others(tmp_path, detr3d):
    header, body, at = detr3d
    wd = tmp_path / "detr3d"
    good = _write(wd / "20230727_114037.log", header + body[: at[3]])
    bad = _write(wd / "20230728_100000.log", b"\x00\x01 binary \x02" * 10)
    bad_json = _write(wd / "20230729_100000.log.json", b'{"mode": "train", "epoch": 1, "iter": 50, "lr": }\n')
    runs, problems = parsers.read_paths([good, bad, bad_json])
    assert [len(r.train) for r in runs] == [280]
    assert sorted(p.path for p in problems) == [bad, bad_json] and all("\n" not in str(p) for p in problems)


def test_beside_reads_the_run_a_file_belongs_to(tmp_path, detr3d):
    """What `bevlog watch FILE` follows: the file's own run, with its resume segments and
    twins from beside it, and not the separate attempts that share its folder."""
    wd = shutil.copytree(FIXTURES / "mmcv_resume_epoch", tmp_path / "wd")
    latest = sorted(wd.glob("*.log"))[-1]
    run = parsers.read(latest, beside=True)
    whole = parsers.read(wd)
    assert run.meta["sources"] == [str(p) for p in sorted(wd.glob("*.log"))] == whole.meta["sources"]
    assert len(run.meta["twins"]) == 2 and len(run.train) == len(whole.train)
    header, body, at = detr3d
    two = tmp_path / "two"
    _write(two / "20230727_114037.log", header + body[: at[3]])
    second = _write(two / "20230728_090000.log", _later(header + body[: at[2]], b"2023-07-28"))
    run = parsers.read(second, beside=True)
    assert run.name == "two@20230728_090000" and len(run.train) == _train_lines(body[: at[2]])


def test_text_log_and_vis_data_json_of_a_renamed_stamp_dir_are_twins():
    # set2 README #4: `<dir>/20240308_185617.log` and `<dir>/vis_data/{20240308_185617,scalars}.json`
    # (the `<ts>` dir renamed by the repository): one run, its 400 train lines
    # (grep -c 'mmengine - INFO - Epoch(train)' 20240308_185617.log) refined by the json twin.
    wd = REAL_SET2 / "CVIU-CSU__EPCPE__20240308_185617"
    text = (wd / "20240308_185617.log").read_text()
    runs, problems = parsers.read_paths([wd])
    assert problems == [] and len(runs) == 1
    assert len(runs[0].train) == text.count("mmengine - INFO - Epoch(train)") == 400
    assert runs[0].meta.twins and all("vis_data" in t for t in runs[0].meta.twins)


def test_a_capture_of_18_launches_groups_resumes_with_the_run_of_their_model():
    # set2 README #1: 18 launches (GLIP, retinanet_r18, retinanet_effb3) appended to one
    # nohup.out, 11 `resumed epoch:` lines. A resume joins the earlier run of the same model
    # type and work dir, never another model's run that happens to reach its iteration.
    path = REAL_SET2 / "STEALMOO__CAICON__nohup.out"
    text = path.read_text(errors="replace")
    runs, problems = parsers.read_paths([path])
    assert problems == []
    assert sum(len(r.meta.segments) for r in runs) == text.count("- mmengine - INFO - Config:") == 18
    # every train line is a row of some run, or counted as replaced by a resume
    train_lines = len(re.findall(r"- mmengine - INFO - Epoch\(train\)", text))
    assert sum(len(r.train) + r.meta.replaced_rows for r in runs) == train_lines == 11572
    assert len(runs) == 8
    effb3 = [r for r in runs if "effb3" in str((r.meta.config or {}).get("work_dir")) and len(r.meta.segments) > 1]
    assert len(effb3) == 1 and len(effb3[0].meta.segments) == 11
    assert effb3[0].meta.iters_per_epoch == 15169


def test_console_captures_named_out_are_found_in_a_work_dir(tmp_path):
    # nohup.out and slurm-*.out are what a scheduler leaves beside the work dirs
    src = REAL_SET2 / "woxinyonghen__OpenMMLabCamp__slurm-300830.out"
    shutil.copy(src, tmp_path / "slurm-300830.out")
    (tmp_path / "notes.out").write_text("not a log\n")  # sniffed by content: skipped
    runs, problems = parsers.read_paths([tmp_path])
    assert problems == [] and len(runs) == 1
    assert len(runs[0].train) == src.read_text().count("- mmengine - INFO - Iter(train)") == 100
