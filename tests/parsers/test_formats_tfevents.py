"""TensorBoard event files written by a real writer (torch.utils.tensorboard, which writes
through tensorboard's own EventFileWriter): train scalars per step, evaluations on the
iteration axis (detectron2) or on an epoch axis (mmengine's val metrics, `Test/AP` of
many DETR forks), told apart by wall time; and the optional extra: without tensorboard
installed (the package hidden from a real `bevlog` process) the file is refused with one
line naming the extra. The real detrex files are in test_formats_detectron2.py."""

import math
import subprocess
import sys

import numpy as np
import pytest
from repo_paths import REAL_SET3

import parsers
from parsers import read_file
from parsers.formats import tfevents

pytest.importorskip("tensorboard")
SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter
T0 = 1_700_000_000.0
IPE, INTERVAL = 100, 20


def _write(folder, epoch_axis: bool, t0=T0, epochs=3):
    w = SummaryWriter(str(folder))
    for epoch in range(1, epochs + 1):
        for it in range(INTERVAL, IPE + 1, INTERVAL):
            step = (epoch - 1) * IPE + it
            wall = t0 + step
            w.add_scalar("train/loss", 5.0 / step, step, walltime=wall)
            w.add_scalar("train/lr", 1e-4, step, walltime=wall)
            w.add_scalar("epoch", epoch - 1, step, walltime=wall)
        end = t0 + epoch * IPE + 0.5
        w.add_scalar("val/AP", 0.1 * epoch, epoch if epoch_axis else epoch * IPE, walltime=end)
    w.add_histogram("weights", np.array([1.0, 2.0]), 1, walltime=t0)
    w.close()
    return max(folder.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns)


@pytest.mark.parametrize("epoch_axis", [False, True])
def test_two_step_axes(tmp_path, epoch_axis, engine):
    path = _write(tmp_path, epoch_axis)
    (seg,) = read_file(str(path), engine=engine)
    assert seg.rows == 15 and list(seg.step[:3]) == [20.0, 40.0, 60.0]
    assert seg.keys == ("loss", "lr")  # `train/` dropped; `epoch` is a position, not a column
    assert seg.skipped == {tfevents.NON_SCALAR: 1}
    assert list(seg.eval_metric) == ["val/AP"] * 3 and list(seg.eval_after_row) == [4, 9, 14]
    if epoch_axis:
        assert all(math.isnan(s) for s in seg.eval_step) and list(seg.eval_epoch) == [1, 2, 3]
    else:
        assert list(seg.eval_step) == [100, 200, 300]
    run = parsers.read(str(path))
    # either way each evaluation sits at the iteration it followed: the end of its epoch
    assert list(run.evals["step"]) == [100, 200, 300] and list(run.evals["value"]) == pytest.approx([0.1, 0.2, 0.3])
    assert run.meta.started == "20231114_221340"  # the first event's wall time (T0 + 20 s, UTC)


def test_a_folder_of_launches_is_one_candidate_run(tmp_path):
    """One file per writer: a restart writes a second file in the same folder. A fresh
    restart (steps from the beginning) is a run of its own, named by its launch time."""
    _write(tmp_path, False)
    _write(tmp_path, False, t0=T0 + 10_000, epochs=1)
    runs, problems = parsers.read_paths([str(tmp_path)])
    assert not problems and sorted(len(r.train) for r in runs) == [5, 15]
    assert sorted(r.name.split("@")[1] for r in runs) == ["20231114_221340", "20231115_010020"]


def test_without_the_extra_the_file_is_refused_with_one_line_naming_it():
    path = sorted((REAL_SET3 / "IDEA-Research__detrex__projects_detr_output").glob("events.out.tfevents.*"))[0]
    hide = "import sys; sys.modules['tensorboard'] = None; from bevlog.cli import cli; sys.exit(cli())"
    out = subprocess.run([sys.executable, "-c", hide, "parse", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "pip install 'bevlog[tensorboard]'" in lines[0]
    assert "Traceback" not in out.stderr
    # with the extra, the same file reads
    out = subprocess.run(["bevlog", "parse", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
