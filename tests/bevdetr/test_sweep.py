"""`bevdetr sweep`: real tiny-preset runs, one work dir per experiment setting, resumable."""

import glob
import json
import os

import pytest
from click.testing import CliRunner

import parsers
from bevdetr.cli import cli
from bevdetr.sweep import COMMON, DONE_FILE, EXPERIMENT_NAMES, MIN_SEEDS, RUNS, select

# the position-MLP experiment at one seed: two runs (base, pe-shared), cut down to 50 iterations (one log line)
SHORT = [
    "--preset",
    "tiny",
    "--only",
    "pe",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--train-samples",
    "400",
    "--val-samples",
    "8",
    "--jobs",
    "2",
]


def invoke(args):
    return CliRunner().invoke(cli, ["sweep", *args], catch_exceptions=False)


def test_plan_covers_the_brief_with_seeds():
    assert set(EXPERIMENT_NAMES) == {"lr", "spread", "aux", "layers", "step", "batch", "pe"}  # claim 6: not here
    experiments, pairs = select(None)
    assert len(pairs) == len(set(pairs))  # runs shared by experiments train once
    assert {run for run, _ in pairs} == set(RUNS)
    seeds = {run: sorted(s for r, s in pairs if r == run) for run in RUNS}
    for e in experiments:
        assert e.seeds >= 3
        for _, run in e.runs:
            assert seeds[run] == list(range(len(seeds[run]))) and len(seeds[run]) >= e.seeds
    # claim by claim: every arm's first MIN_SEEDS seeds before any arm's further seeds, and each
    # experiment's arms complete at MIN_SEEDS before the next experiment's new arms start
    first = [p for p in pairs if p[1] < MIN_SEEDS]
    assert pairs[: len(first)] == first and all(s >= MIN_SEEDS for _, s in pairs[len(first) :])
    done = set()
    for e in experiments:
        arms = {(run, s) for _, run in e.runs for s in range(MIN_SEEDS)}
        new = [p for p in first if p in arms - done]
        assert new == first[len(done) : len(done) + len(new)], e.name
        done |= arms
    assert COMMON["epochs"] * 100 >= 2400 and COMMON["val_samples"] >= 512  # long past take-off, a large split
    _, pairs = select(["aux"], seeds=2)
    assert pairs == [("layers-6", 0), ("layers-6-aux-off", 0), ("layers-6", 1), ("layers-6-aux-off", 1)]


@pytest.mark.slow
@pytest.mark.torch  # trains in subprocesses
def test_sweep_two_experiments_then_skips_finished(tmp_path):
    work = tmp_path / "sweep"
    result = invoke(["--work-dir", str(work), *SHORT])
    assert result.exit_code == 0, result.output
    assert "2 trained, 0 skipped, 0 failed" in result.output
    assert sorted(os.listdir(work)) == ["base-s0", "pe-shared-s0"]
    logged = {}
    for name in ("base-s0", "pe-shared-s0"):
        run_dir = work / name
        assert glob.glob(str(run_dir / "*.log")) and glob.glob(str(run_dir / "*.log.json"))
        done = json.loads((run_dir / DONE_FILE).read_text())
        assert done["run"] == name and done["preset"] == "tiny"
        run = parsers.read(str(run_dir))  # the marker is not taken for a log
        assert run.name == name and run.meta["ended"] == "finished"
        logged[name] = run.meta["config"]["bevdetr"]
        assert logged[name]["epochs"] == 1 and logged[name]["train_samples"] == 400 and logged[name]["threads"] == 1
    assert logged["pe-shared-s0"]["share_pe"] and not logged["base-s0"]["share_pe"]
    assert logged["base-s0"]["seed"] == 0 and run.meta["has_aux_loss"] is True

    again = invoke(["--work-dir", str(work), *SHORT])
    assert again.exit_code == 0 and "0 trained, 2 skipped, 0 failed" in again.output
    assert len(glob.glob(str(work / "base-s0" / "*.log"))) == 1  # nothing retrained


def test_list_and_bad_experiment(tmp_path):
    listed = invoke(["--work-dir", str(tmp_path), "--list"])
    assert listed.exit_code == 0
    for name in EXPERIMENT_NAMES:
        assert f"{name} (" in listed.output
    assert "cyclic-5x" in listed.output and f"{len(select(None)[1])} runs in all" in listed.output
    assert not os.listdir(tmp_path)
    bad = CliRunner().invoke(cli, ["sweep", "--work-dir", str(tmp_path), "--only", "lr,nope"])
    assert bad.exit_code == 2 and "unknown experiment(s) nope" in bad.output
