"""benchmarks/gpu_check.sh, its CPU path: the same script with tiny cut-down settings on the CPU
(smoke run, the lr pair as concurrent processes, the summary folder)."""

import csv
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")

pytestmark = [pytest.mark.slow, pytest.mark.torch]  # trains in subprocesses


def test_gpu_check_cpu_path_writes_one_folder_with_rates_curves_and_findings(tmp_path):
    env = dict(
        os.environ,
        DEVICE="cpu",
        PRESET="tiny",
        LRS="2e-4 1e-3",
        SEEDS="0",
        EPOCHS="1",
        TRAIN_SAMPLES="80",
        VAL_SAMPLES="8",
        RUN_LIMIT_S="120",
        SMOKE_LIMIT_S="120",
        SMOKE_ARGS="--epochs 1 --train-samples 40 --val-samples 8 --interval 5",
        EXTRA_ARGS="--interval 5",
        PYTHONPATH=ROOT,
    )
    out = tmp_path / "check"
    proc = subprocess.run(["bash", SCRIPT, str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = {r["run"]: r for r in json.loads((out / "summary.json").read_text())}
    assert sorted(rows) == ["lr-1e-3-seed0", "lr-2e-4-seed0", "smoke"]
    for name in ("lr-2e-4-seed0", "lr-1e-3-seed0"):
        r = rows[name]
        assert r["iterations"] == 10 and r["samples_per_s"] > 0 and r["final_mAP"] is not None
        assert 0 < r["final_attn_entropy"] <= 1 and r["max_attn_logit"] > 0
        assert r["peak_memory_mb"] is None  # CPU: mmcv logs memory only on CUDA
    assert rows["lr-2e-4-seed0"]["lr"] == 2e-4 and rows["lr-1e-3-seed0"]["lr"] == 1e-3
    with open(out / "curves.csv") as f:
        curves = list(csv.DictReader(f))
    assert {c["run"] for c in curves} == set(rows) and "attn_entropy" in curves[0]
    assert "| lr-1e-3-seed0 |" in (out / "summary.md").read_text()
    assert "cpu" in (out / "environment.txt").read_text()
