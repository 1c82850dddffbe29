"""`bevdetr sweep`: real tiny-preset runs, one work dir per experiment setting, resumable."""
import glob
import json
import os

from click.testing import CliRunner

import parsers
from bevdetr.cli import cli
from bevdetr.sweep import DONE_FILE, EXPERIMENT_NAMES, RUNS, select

# two experiments (aux on/off, shared/separate position MLP) -> three distinct runs
SHORT = ["--preset", "tiny", "--only", "aux,pe", "--epochs", "1", "--train-samples", "160", "--val-samples", "8",
         "--jobs", "3"]


def invoke(args):
    return CliRunner().invoke(cli, ["sweep", *args], catch_exceptions=False)


def test_plan_covers_the_brief():
    assert EXPERIMENT_NAMES == ("lr", "aux", "batch", "layers", "pe", "attn")
    _, runs = select(None)
    assert len(runs) == len(set(runs)) == len(RUNS)          # shared runs train once
    _, runs = select(["aux", "pe"])
    assert runs == ["base", "aux-off", "pe-shared"]


def test_sweep_two_experiments_then_skips_finished(tmp_path):
    work = tmp_path / "sweep"
    result = invoke(["--work-dir", str(work), *SHORT])
    assert result.exit_code == 0, result.output
    assert "3 trained, 0 skipped, 0 failed" in result.output
    assert sorted(os.listdir(work)) == ["aux-off", "base", "pe-shared"]
    logged = {}
    for name in ("base", "aux-off", "pe-shared"):
        run_dir = work / name
        assert glob.glob(str(run_dir / "*.log")) and glob.glob(str(run_dir / "*.log.json"))
        done = json.loads((run_dir / DONE_FILE).read_text())
        assert done["run"] == name and done["preset"] == "tiny"
        run = parsers.read(str(run_dir))                     # the marker is not taken for a log
        assert run.name == name and run.meta["ended"] == "finished"
        logged[name] = run.meta["config"]["bevdetr"]
        assert logged[name]["epochs"] == 1 and logged[name]["train_samples"] == 160 and logged[name]["threads"] == 1
    assert logged["base"]["aux"] and not logged["aux-off"]["aux"]
    assert logged["pe-shared"]["share_pe"] and not logged["base"]["share_pe"]
    assert run.meta["has_aux_loss"] is True

    again = invoke(["--work-dir", str(work), *SHORT])
    assert again.exit_code == 0 and "0 trained, 3 skipped, 0 failed" in again.output
    assert len(glob.glob(str(work / "base" / "*.log"))) == 1  # nothing retrained


def test_list_and_bad_experiment(tmp_path):
    listed = invoke(["--work-dir", str(tmp_path), "--list"])
    assert listed.exit_code == 0
    for name in EXPERIMENT_NAMES:
        assert f"{name}:" in listed.output
    assert "lr-3e-3-warmup1000" in listed.output and not os.listdir(tmp_path)
    bad = CliRunner().invoke(cli, ["sweep", "--work-dir", str(tmp_path), "--only", "lr,nope"])
    assert bad.exit_code == 2 and "unknown experiment(s) nope" in bad.output
