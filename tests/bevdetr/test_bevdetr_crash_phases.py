"""Kill -9 at every phase of an epoch (mid-epoch, during the checkpoint save, during the
evaluation), `--resume`, and the work dir reads exactly as an uninterrupted run's: every
interval once with the same values, every evaluation once with the same metrics.

The kill is deterministic: tests/bevdetr/killed_train.py runs the real trainer and calls
`os._exit(137)` at that point, as a SIGKILL would leave it.
"""

import glob
import os
import re
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

import parsers
from bevdetr.cli import cli

ARGS = [
    "bevdetr",
    "train",
    "--preset",
    "tiny",
    "--epochs",
    "3",
    "--train-samples",
    "80",
    "--val-samples",
    "16",
    "--interval",
    "5",
    "--eval-interval",
    "1",
    "--warmup-iters",
    "5",
]
VAL_LINE = re.compile(r"Epoch\(val\) \[(\d+)\]")


KILLED_TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killed_train.py")


def train_cmd(work, crash=None, resume=False):
    args = ARGS + ["--work-dir", str(work)] + (["--resume"] if resume else [])
    if crash:
        args = [sys.executable, KILLED_TRAIN, crash] + args[1:]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def numbers(work):
    """(train rows keyed by (epoch, iter) -> logged values, evals keyed by (epoch, metric) -> value)."""
    run = parsers.read(str(work))
    tr = run.train
    keys = [c for c in tr.columns if "loss" in c or c.startswith("grad_norm") or ".attn_" in c]
    train = {
        (int(r.epoch), int(r.iter)): {k: float(getattr(r, k.replace(".", "_"), float("nan"))) for k in keys}
        for r in tr.rename(columns=lambda c: c.replace(".", "_")).itertuples()
    }
    evals = {(int(e), m): float(v) for e, m, v in zip(run.evals["epoch"], run.evals["metric"], run.evals["value"])}
    return train, evals, keys


def val_epochs(work):
    """The epochs of every `Epoch(val)` line in every text log of the work dir."""
    return sorted(
        int(m.group(1)) for log in glob.glob(str(work / "*.log")) for m in VAL_LINE.finditer(open(log).read())
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    work = tmp_path_factory.mktemp("whole")
    proc = train_cmd(work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work, numbers(work)


@pytest.mark.slow  # trains
@pytest.mark.parametrize("phase", ["train", "checkpoint", "eval"])
def test_kill_at_every_phase_then_resume_logs_what_an_uninterrupted_run_logs(phase, uninterrupted, tmp_path):
    _, (train0, evals0, keys) = uninterrupted
    killed = train_cmd(tmp_path, crash=f"{phase}:2")
    assert killed.returncode == 137, killed.stderr[-2000:]
    # the kill landed where it was meant to: epoch 2's evaluation never got logged
    assert val_epochs(tmp_path) == [1]
    expected_latest = "epoch_2.pth" if phase == "eval" else "epoch_1.pth"
    assert os.readlink(tmp_path / "latest.pth") == expected_latest
    resumed = train_cmd(tmp_path, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    train1, evals1, keys1 = numbers(tmp_path)
    assert keys1 == keys and "d2.attn_entropy" in keys and "d0.attn_logit_max" in keys
    assert sorted(train1) == sorted(train0) == [(e, i) for e in (1, 2, 3) for i in (5, 10)]
    for at, values in train0.items():
        assert train1[at] == pytest.approx(values, rel=1e-4, abs=1e-4), (phase, at)
    assert sorted(evals1) == sorted(evals0) and len(evals0) == 3 * (4 * 4 + 1)  # 4 classes x 4 thresholds + mAP
    assert evals1 == pytest.approx(evals0, abs=1e-4)
    # every evaluation was logged exactly once across the killed and the resumed log
    assert val_epochs(tmp_path) == [1, 2, 3]


def _bad_checkpoint(uninterrupted, tmp_path, name, meta_change):
    work, _ = uninterrupted
    ckpt = torch.load(work / "epoch_1.pth", weights_only=True)
    ckpt["meta"] = meta_change(dict(ckpt["meta"]))
    path = tmp_path / name
    torch.save(ckpt, path)
    return path


def _without_epoch(meta):
    del meta["epoch"]
    return meta


@pytest.mark.slow  # trains (the uninterrupted run)
@pytest.mark.parametrize(
    "name,meta_change,says",
    [
        ("no-epoch.pth", _without_epoch, "no integer epoch"),
        ("string-epoch.pth", lambda m: {**m, "epoch": "1"}, "no integer epoch"),
        ("negative-epoch.pth", lambda m: {**m, "epoch": -1}, "epoch -1 is outside"),
        ("huge-epoch.pth", lambda m: {**m, "epoch": 10**6, "iter": 10**9}, "epoch 1000000 is outside"),
        ("wrong-iter.pth", lambda m: {**m, "iter": 7}, "does not fit these settings"),
    ],
)
def test_bad_checkpoint_meta_is_one_line_exit_2(uninterrupted, tmp_path, name, meta_change, says):
    path = _bad_checkpoint(uninterrupted, tmp_path, name, meta_change)
    result = CliRunner().invoke(cli, ARGS[1:] + ["--work-dir", str(tmp_path / "w"), "--resume-from", str(path)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert name in line and says in line and "Traceback" not in result.output
    assert not glob.glob(str(tmp_path / "w" / "*.pth"))  # nothing was trained


def test_empty_checkpoint_file_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "epoch_1.pth"
    empty.write_bytes(b"")
    result = CliRunner().invoke(cli, ARGS[1:] + ["--work-dir", str(tmp_path / "w"), "--resume-from", str(empty)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "epoch_1.pth" in line and "empty file" in line
