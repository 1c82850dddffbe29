"""Files -> runs: read_paths, read_many, names, resume stitching."""

import shutil

import numpy as np
import pytest
from parsers_testlib import DETR3D, FIXTURES, STREAMPETR, real

import parsers
from parsers.discovery import run_key

HEADER_END = b"Checkpoints will be saved to"


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_run_names():
    assert run_key("/w/petr_lr1e-3/20230727_114037.log")[1] == "petr_lr1e-3"
    assert run_key("/w/conddetr/20241114_204353/20241114_204353.log")[1] == "conddetr"
    assert run_key("/w/conddetr/20241114_204353/vis_data/scalars.json")[1] == "conddetr"
    assert run_key("/w/conddetr/20241114_204353/vis_data/20241114_204353.json")[1] == "conddetr"
    assert run_key("/x/wandb/run-20260409_140746-x2mo2co1/files/output.log")[1] == "run-20260409_140746-x2mo2co1"
    assert run_key("/r/PrymceQ__3DDetection_DETR3D__20230727_114037.log.json")[1] == "PrymceQ__3DDetection_DETR3D"
    assert run_key("/r/my_run.log.gz")[1] == "my_run"


def test_read_paths_groups_runs_twins_and_mmengine_timestamps(tmp_path):
    text = real(f"{STREAMPETR}.log").read_bytes()
    js = real(f"{STREAMPETR}.log.json").read_bytes()
    a = _write(tmp_path / "exp" / "b8" / "20230725_174411.log", text)
    _write(tmp_path / "exp" / "b8" / "20230725_174411.log.json", js)
    b = _write(tmp_path / "exp" / "b20" / "20230725_174411.log.json", js)
    _write(tmp_path / "exp" / "b20" / "notes.txt", b"not a log\n")
    _write(tmp_path / "exp" / "b20" / "results.json", b'[{"bbox": [1, 2]}]')
    # mmengine work dir: two launches (a resume) with vis_data twins: one run, two segments.
    fx = sorted((FIXTURES / "mmengine_resume").glob("2*/"))
    if len(fx) == 2:
        shutil.copytree(FIXTURES / "mmengine_resume", tmp_path / "exp" / "mme")
    runs, problems = parsers.read_paths([str(tmp_path / "exp")])
    assert problems == []
    by_name = {r.name: r for r in runs}
    # the json twin is not a second run nor a second segment: it refines the text's values
    assert by_name["b8"].meta["sources"] == [a] and by_name["b8"].meta["twins"] == [a + ".json"]
    assert by_name["b20"].meta["sources"] == [b]
    if len(fx) == 2:
        mme = by_name["mme"].meta["sources"]
        assert len(mme) == 2 and all(p.endswith(".log") for p in mme)
    assert sorted(by_name) == sorted(["b8", "b20"] + (["mme"] if len(fx) == 2 else []))


def test_read_many_and_read_of_a_multi_run_dir(tmp_path):
    d = tmp_path / "runs"
    _write(d / "a" / "20230725_174411.log", real(f"{STREAMPETR}.log").read_bytes())
    _write(d / "b" / "20230727_114037.log.json", real(f"{DETR3D}.log.json").read_bytes())
    runs = parsers.read_many([str(d)])
    assert [r.meta["name"] for r in runs] == ["a", "b"]
    assert [len(r.train) for r in runs] == [843, 3360]
    with pytest.raises(parsers.ParseError) as err:
        parsers.read(str(d))
    assert "holds 2 runs" in str(err.value) and "\n" not in str(err.value)
    # Files given one by one are read the same way, in the order they were named (the
    # first run is compare's reference).
    again = parsers.read_many([str(d / "b" / "20230727_114037.log.json"), str(d / "a" / "20230725_174411.log")])
    assert [r.meta["name"] for r in again] == ["b", "a"]
    assert [len(r.train) for r in again] == [3360, 843]


def _split_detr3d_into_resume(tmp_path):
    """Cut the real DETR3D log into two launches of one run: the first killed in epoch 3,
    the second resumed from the epoch-2 checkpoint (as mmcv writes it: new header, a
    `resumed epoch 2, iter 14066` line, then epoch 3 again)."""
    data = real(f"{DETR3D}.log").read_bytes()
    head_end = data.index(b"\n", data.index(HEADER_END)) + 1
    header, body = data[:head_end], data[head_end:]
    e3 = body.index(b"Epoch [3][")
    e3 = body.rindex(b"\n", 0, e3) + 1
    e3_3000 = body.index(b"Epoch [3][3000/7033]")
    e3_3000 = body.index(b"\n", e3_3000) + 1
    e5 = body.index(b"Epoch [5][")
    e5 = body.rindex(b"\n", 0, e5) + 1
    first = header + body[:e3_3000]
    resume = b"2023-07-28 10:00:00,000 - mmdet - INFO - resumed epoch 2, iter 14066\n"
    second = header.replace(b"2023-07-27 ", b"2023-07-28 ") + resume + body[e3:e5]
    wd = tmp_path / "detr3d"
    _write(wd / "20230727_114037.log", first)
    _write(wd / "20230728_114037.log", second)
    return wd


def test_resumed_text_log_is_stitched(tmp_path):
    wd = _split_detr3d_into_resume(tmp_path)
    run = parsers.read(str(wd))
    t, segs = run.train, run.meta["segments"]
    assert len(segs) == 2
    assert segs[1]["resumed_from"] == {"epoch": 2, "iter": 14066}
    # epoch 3 [50..3000] was logged twice: the later launch's rows are kept, once.
    assert segs[0]["dropped_rows"] == 60
    assert len(t) == 140 * 4 and t.step.is_unique and t.step.is_monotonic_increasing
    assert set(t[t.epoch == 3].segment) == {1}
    assert list(t.segment.unique()) == [0, 1]
    # wall time runs on across the downtime between launches
    assert t.wall_s.is_monotonic_increasing
    assert run.meta["ended"] == "stopped" and run.meta["max_epochs"] == 24


def test_read_many_joins_given_resume_files(tmp_path):
    wd = _split_detr3d_into_resume(tmp_path)
    files = sorted(str(p) for p in wd.iterdir())
    (run,) = parsers.read_many(list(reversed(files)))  # order given does not matter
    assert run.meta["sources"] == files
    assert len(run.train) == 560


def test_evals_of_a_stitched_run(tmp_path):
    wd = _split_detr3d_into_resume(tmp_path)
    run = parsers.read(str(wd))
    nds = run.evals[run.evals.metric == "pts_bbox_NuScenes/NDS"]
    assert list(nds.epoch) == [2.0, 4.0]
    assert np.allclose(nds.value, [0.2186, 0.2623])
