"""`bevlog compare` through click (CliRunner) and the installed entry point."""

import csv
import io
import json
import math
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

from bevlog.cli import cli

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "compare"
REAL = REAL_SET1
B8, B20, NOBATCH = str(FIX / "b8"), str(FIX / "b20"), str(FIX / "nobatch")


def run(*args):
    return CliRunner().invoke(cli, ["compare", *args], catch_exceptions=False)


def test_table_has_every_column_and_a_verdict():
    result = run(B8, B20, "--align", "samples", "--wide")  # every column
    assert result.exit_code == 0, result.output
    out = result.output
    assert "loss by samples seen" in out
    for header in (
        "batch",
        "lr/sample",
        "rows",
        "final",
        "best",
        "@500",
        "@2k",
        "noise",
        "noise·√(B·n)",
        "slope/smp",
        "curve",
    ):
        assert header in out, header
    lines = out.splitlines()
    b8_row = next(line for line in lines if line.startswith("b8 "))
    assert " 8 " in b8_row and "2.0e-04" in b8_row and "2.5e-05" in b8_row and " 15 " in b8_row
    assert any(ch in b8_row for ch in "▁▂▃▄▅▆▇█")
    assert any(line.startswith("b20 is ") or line.startswith("b20 matches") for line in lines)


def test_json_output_carries_the_numbers():
    result = run(B8, B20, "--align", "epochs", "--metric", "loss", "--metric", "bbox_mAP", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["comparisons"]
    assert [m["metric"] for m in data] == ["loss", "bbox_mAP"]
    loss = data[0]
    assert loss["align"] == "epochs" and loss["checkpoints"] == [1.0, 2.0, 3.0]
    rows = {r["run"]: r for r in loss["runs"]}
    assert rows["b8"]["batch"] == 8 and rows["b20"]["batch"] == 20
    assert rows["b8"]["interval"] == 20 and rows["b20"]["interval"] == 10
    assert rows["b20"]["noise_norm"] == pytest.approx(rows["b20"]["noise"] * math.sqrt(200))
    assert len(loss["verdicts"]) == 1
    mAP = {r["run"]: r for r in data[1]["runs"]}
    assert mAP["b8"]["final"] == pytest.approx(0.3) and mAP["b20"]["@ep2"] == pytest.approx(0.2)


def test_csv_output_is_one_row_per_run_and_metric():
    result = run(B8, B20, "--format", "csv", "-m", "loss", "-m", "grad_norm")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["metric"], r["run"]) for r in rows] == [
        ("loss", "b8"),
        ("loss", "b20"),
        ("grad_norm", "b8"),
        ("grad_norm", "b20"),
    ]
    assert rows[0]["at_ep1"] and float(rows[0]["lr_per_sample"]) == pytest.approx(2.5e-5)


def test_unknown_batch_says_which_override_fixes_it():
    result = run(B8, NOBATCH, "--align", "samples")
    assert result.exit_code == 2
    assert "nobatch" in result.output and "--batch nobatch=N" in result.output
    assert "Traceback" not in result.output
    fixed = run(B8, NOBATCH, "--align", "samples", "--batch", "nobatch=20", "--wide")
    assert fixed.exit_code == 0, fixed.output
    assert "nobatch" in fixed.output and "1.0e-05" in fixed.output  # lr/sample = 2e-4 / 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch", "b8"], "expected RUN=N"),
        (["--batch", "nosuchrun=8"], "no run named nosuchrun"),
        (["--metric", "loss_nope"], "no run has a metric 'loss_nope'"),
        (["--align", "parsecs"], "Invalid value for '--align'"),
        (["--smooth", "1.5"], "Invalid value for '--smooth'"),
    ],
)
def test_bad_usage_is_exit_2_with_one_line(args, message):
    result = run(B8, B20, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_real_logs_through_the_installed_entry_point():
    detr3d = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
    streampetr = REAL / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
    proc = subprocess.run(
        [
            "bevlog",
            "compare",
            str(detr3d),
            str(streampetr),
            "--align",
            "samples",
            "-m",
            "loss",
            "-m",
            "NDS",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["comparisons"]
    assert data[1]["metric"] == "pts_bbox_NuScenes/NDS"
    batches = {r["run"]: r["batch"] for r in data[0]["runs"]}
    assert batches == {"PrymceQ__3DDetection_DETR3D": 4, "PrymceQ__BEVModel_StreamPETR": 16}
