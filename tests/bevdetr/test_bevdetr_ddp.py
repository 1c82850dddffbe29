"""Two processes under torchrun (gloo on CPU): it runs, rank 0 alone logs, the total batch doubles."""

import ast
import glob
import os
import subprocess
import sys

import pytest
from bevdetr_logformat import RECORD, assert_text_and_json_agree, epoch_lines

from bevdetr.presets import make_settings

pytestmark = [pytest.mark.slow, pytest.mark.torch]  # trains in subprocesses


def test_two_process_torchrun(tmp_path):
    work = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "bevdetr.cli",
        "train",
        "--preset",
        "tiny",
        "--epochs",
        "2",
        "--train-samples",
        "320",
        "--val-samples",
        "16",
        "--interval",
        "10",
        "--eval-interval",
        "1",
        "--layers",
        "2",
        "--work-dir",
        str(work),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("work_dir: ") == 1  # only rank 0 reports
    assert "on 2 cpu process(es)" in proc.stdout

    logs, jsons = glob.glob(str(work / "*.log")), glob.glob(str(work / "*.log.json"))
    assert len(logs) == 1 and len(jsons) == 1  # rank 1 wrote nothing
    log = logs[0]
    text = open(log).read()
    messages = [m["message"] for m in map(RECORD.match, text.split("\n")) if m]
    assert "Distributed training: True" in messages
    config_text = text.split(" - INFO - Config:\n", 1)[1].split("\n20", 1)[0]
    config = {node.targets[0].id: node.value for node in ast.parse(config_text).body}
    batch = make_settings("tiny").batch
    assert ast.unparse(config["gpu_ids"]) == "range(0, 2)"
    assert ast.literal_eval(config["total_batch_size"]) == 2 * batch
    assert ast.literal_eval({kw.arg: kw.value for kw in config["data"].keywords}["samples_per_gpu"]) == batch
    assert ast.literal_eval({kw.arg: kw.value for kw in config["dist_params"].keywords}["backend"]) == "gloo"

    train = [m for kind, m in epoch_lines(log) if kind == "train"]
    # 320 scenes per epoch at a total batch of 16: 20 iterations, half the single-process 40
    assert [(int(m["epoch"]), int(m["iter"]), int(m["n"])) for m in train] == [
        (e, i, 20) for e in (1, 2) for i in (10, 20)
    ]
    assert "(NORMAL      ) DistSamplerSeedHook" in text and "DistEvalHook" in text
    assert assert_text_and_json_agree(log, log + ".json") == 4 + 2
    assert sorted(os.listdir(work)) == sorted(
        [
            os.path.basename(log),
            os.path.basename(log) + ".json",
            "epoch_1.pth",
            "epoch_2.pth",
            "latest.pth",
            "epoch_1.evaluated",
            "epoch_2.evaluated",
        ]
    )
