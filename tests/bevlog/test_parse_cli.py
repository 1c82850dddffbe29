"""`bevlog parse` through click's CliRunner and through the installed entry point."""

import io
import json
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

from bevlog.cli import cli

REAL = REAL_SET1
DETR3D = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
DETR3D_JSON = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
STREAMPETR = REAL / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
CONSOLE = REAL / "eb45__StreamPETR_TTC_Head__run-20260409_140746-x2mo2co1_output.log"
# `grep -c 'Epoch \[' DETR3D.log` -> 3360 train lines; `grep -c 'Iter \[' StreamPETR.log` -> 843.
DETR3D_TRAIN_LINES = 3360
STREAMPETR_TRAIN_LINES = 843


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_table_names_each_run_and_its_facts():
    result = invoke("parse", DETR3D, STREAMPETR, CONSOLE, "--wide")  # every column
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PrymceQ__3DDetection_DETR3D" in out and "PrymceQ__BEVModel_StreamPETR" in out
    assert "24 ep × 7033 it" in out
    header = out.splitlines()[0]
    assert "runner" in header and "format" in header and "skipped" in header
    detr3d_row = next(line for line in out.splitlines() if "PrymceQ__3DDetection_DETR3D" in line)
    stream_row = next(line for line in out.splitlines() if "PrymceQ__BEVModel_StreamPETR" in line)
    assert " epoch " in detr3d_row and " iter " in stream_row  # EpochBasedRunner / IterBasedRunner
    assert "4 (4×1)" in out and "16 (4×4)" in out  # batch = GPUs × samples per GPU
    assert "3360" in out and "843" in out
    assert "traceback: RuntimeError" in out  # the console capture died of an exception


def test_twins_named_together_are_one_run():
    result = invoke("parse", DETR3D, DETR3D_JSON, "--format", "csv")
    assert result.exit_code == 0
    df = pd.read_csv(io.StringIO(result.output))
    assert len(df) == DETR3D_TRAIN_LINES
    assert df["run"].nunique() == 1


def test_csv_json_and_parquet_frames(tmp_path):
    csv = invoke("parse", STREAMPETR, "--format", "csv")
    train = pd.read_csv(io.StringIO(csv.output))
    assert len(train) == STREAMPETR_TRAIN_LINES
    assert list(train.columns[:4]) == ["run", "segment", "epoch", "iter"]

    doc = json.loads(invoke("parse", STREAMPETR, "--format", "json", "--frame", "evals").output)
    rows = doc["rows"]
    assert doc["frame"] == "evals" and [r["run"] for r in doc["runs"]] == ["PrymceQ__BEVModel_StreamPETR"]
    assert rows and set(rows[0]) == {"run", "epoch", "step", "metric", "value", "segment"}

    out = tmp_path / "layers.parquet"
    result = invoke("parse", DETR3D, "--format", "parquet", "--frame", "layers", "-o", out)
    assert result.exit_code == 0
    layers = pd.read_parquet(out)
    assert set(layers["layer"]) == set(range(6))  # d0..d4 plus the unprefixed final layer


def test_parquet_needs_out():
    result = CliRunner().invoke(cli, ["parse", str(DETR3D), "--format", "parquet"])
    assert result.exit_code == 2
    assert "--out" in result.output


def test_bad_paths_exit_2_with_one_line_each_and_good_ones_still_processed(tmp_path):
    junk = tmp_path / "junk.log"
    junk.write_bytes(bytes(range(256)) * 10)
    result = CliRunner().invoke(
        cli, ["parse", str(tmp_path / "missing.log"), str(junk), str(STREAMPETR), "--format", "csv"]
    )
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, result.stderr
    assert "missing.log" in errors[0] and "junk.log" in errors[1]
    assert "Traceback" not in result.output + result.stderr
    assert len(pd.read_csv(io.StringIO(result.stdout))) == STREAMPETR_TRAIN_LINES


def test_glob_with_no_match_is_an_error(tmp_path):
    result = CliRunner().invoke(cli, ["parse", str(tmp_path / "*.log")])
    assert result.exit_code == 2
    assert "no file matches" in result.stderr


def test_installed_entry_point_reads_stdin():
    proc = subprocess.run(
        ["bevlog", "parse", "-", "--format", "csv"], input=STREAMPETR.read_bytes(), capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(io.BytesIO(proc.stdout))) == STREAMPETR_TRAIN_LINES


@pytest.mark.parametrize("path", sorted(p for p in REAL.iterdir() if p.name != "README.md"), ids=lambda p: p.name[:40])
def test_every_real_log_parses_from_the_cli(path):
    result = invoke("parse", path)
    assert result.exit_code == 0, result.output


def test_a_pretty_printed_json_beside_the_logs_is_not_taken_for_a_log(tmp_path):
    run_dir = tmp_path / "work_dirs" / "detr3d"
    run_dir.mkdir(parents=True)
    (run_dir / "20230727_114037.log").write_bytes(STREAMPETR.read_bytes())
    (run_dir / "results.json").write_text(json.dumps({"NDS": 0.3, "mAP": 0.2}, indent=1))
    result = invoke("parse", tmp_path / "work_dirs", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(io.StringIO(result.output))) == STREAMPETR_TRAIN_LINES
