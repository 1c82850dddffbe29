"""Fault test: SIGKILL in the middle of an epoch, then `--resume` continues from the last checkpoint."""

import glob
import os
import signal
import subprocess
import time

import pytest
from bevdetr_logformat import epoch_lines, items, read_json_rows

pytestmark = [pytest.mark.slow, pytest.mark.torch]  # trains in subprocesses

ARGS = [
    "bevdetr",
    "train",
    "--preset",
    "tiny",
    "--epochs",
    "3",
    "--train-samples",
    "240",
    "--val-samples",
    "16",
    "--interval",
    "10",
    "--layers",
    "2",
]
ITERS = 30  # 240 scenes / batch 8


def train_lines(log):
    return [(int(m["epoch"]), int(m["iter"]), items(m)) for kind, m in epoch_lines(log) if kind == "train"]


def kill_mid_epoch_two(work):
    """Start a run, SIGKILL it once it has logged [2][20/30] (epoch 1's checkpoint exists by then)."""
    proc = subprocess.Popen(ARGS + ["--work-dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            logs = glob.glob(str(work / "*.log"))
            if logs and "Epoch [2][20/30]" in open(logs[0]).read():
                proc.send_signal(signal.SIGSTOP)  # freeze it at once, then kill: no chance to finish the epoch
                proc.kill()
                proc.wait()
                return logs[0]
            if proc.poll() is not None:
                pytest.fail(f"training ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        pytest.fail("epoch 2 never started")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    work = tmp_path_factory.mktemp("fault")
    first = kill_mid_epoch_two(work)
    assert os.readlink(work / "latest.pth") == "epoch_1.pth"
    proc = subprocess.run(ARGS + ["--work-dir", str(work), "--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (second,) = set(glob.glob(str(work / "*.log"))) - {first}
    return work, first, second


def test_killed_run_stopped_inside_epoch_two(killed_and_resumed):
    _, first, _ = killed_and_resumed
    lines = train_lines(first)
    assert [(e, i) for e, i, _ in lines][:3] == [(1, i) for i in range(10, 31, 10)]
    assert lines[-1][0] == 2 and 20 <= lines[-1][1] < ITERS
    assert "Saving checkpoint at 2 epochs" not in open(first).read()


def test_resumed_run_starts_from_the_epoch_one_checkpoint(killed_and_resumed):
    work, first, second = killed_and_resumed
    text = open(second).read()
    assert f" - INFO - load checkpoint from local path: {work}/latest.pth\n" in text
    assert f" - INFO - resumed epoch 1, iter {ITERS}\n" in text
    assert text.index("resumed epoch") < text.index("Start running")
    lines = train_lines(second)
    assert [(e, i) for e, i, _ in lines] == [(e, i) for e in (2, 3) for i in range(10, 31, 10)]
    # same weights, optimizer state and sample order as the killed run had: the overlap repeats its losses
    killed = {(e, i): v for e, i, v in train_lines(first)}
    for e, i, values in lines:
        if (e, i) in killed:
            assert values["loss"] == pytest.approx(killed[(e, i)]["loss"], rel=1e-3)
    meta = read_json_rows(second + ".json")[0]
    assert meta["hook_msgs"]["last_ckpt"] == str(work / "latest.pth")
    assert sorted(p for p in os.listdir(work) if p.endswith((".log", ".log.json"))) == sorted(
        os.path.basename(p) + ext for p in (first, second) for ext in ("", ".json")
    )
    assert os.readlink(work / "latest.pth") == "epoch_3.pth"


def test_parsers_read_the_work_dir_with_every_interval_once(killed_and_resumed):
    parsers = pytest.importorskip("parsers")
    if not hasattr(parsers, "read"):
        pytest.skip("parsers.read is not written yet")
    work, _, _ = killed_and_resumed
    run = parsers.read(str(work))
    pairs = list(zip(run.train["epoch"].astype(int), run.train["iter"].astype(int)))
    assert sorted(pairs) == [(e, i) for e in (1, 2, 3) for i in range(10, 31, 10)]
    assert run.train["step"].is_unique
