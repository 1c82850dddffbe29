"""no-takeoff tells a run that never took off from one that diverged (issue 6, experiment 3).

The runs are real bevdetr trainings of the `small` preset (fixtures/runs, made by
`bevdetr sweep`): at lr 3e-3 and 1e-2 the loss falls onto the no-object plateau in the first
few hundred iterations and stays there, mAP 0; a 1000-iteration warmup rescues lr 3e-3.
"""

from pathlib import Path

import pytest

import parsers
from bevlog.diagnose import diagnose_run
from bevlog.rules import get_rule

RUNS = Path(__file__).resolve().parents[2] / "fixtures" / "runs"
DIVERGED = Path(__file__).resolve().parents[2] / "fixtures" / "labelled" / "variants"


def no_takeoff(path):
    return get_rule("no-takeoff")(parsers.read(str(path)))


@pytest.mark.parametrize("name", ["lr-3e-3", "lr-1e-2", "lr-1e-2-warmup1000"])
def test_fires_as_an_error_on_runs_that_never_took_off(name):
    run = parsers.read(str(RUNS / name))
    findings = get_rule("no-takeoff")(run)
    assert len(findings) == 1
    f = findings[0]
    assert f.severity == "error"
    assert f.evidence["best_metric"] <= 0.01 and abs(f.evidence["fall"]) < 0.05
    assert "never took off" in f.message
    # the fix is computed from the run: a third of its peak lr, and a warmup of at least 1000 iters
    lr = run.meta["lr"]
    change = {c["param"]: c for c in f.fix.changes}
    assert change["lr"]["from"] == lr and change["lr"]["to"] < lr
    assert change["warmup_iters"]["to"] >= 1000
    # and it is not called divergence: the loss never rose
    assert not [x for x in diagnose_run(run) if x.rule == "divergence"]


@pytest.mark.parametrize("name", ["base", "lr-3e-3-warmup1000", "lr-2e-4", "aux-off", "batch-20"])
def test_quiet_on_runs_that_learn_even_slowly(name):
    assert no_takeoff(RUNS / name) == []


def _real_logs():
    """Every real log in the repository (a capture or work dir of several runs: each run)."""
    from repo_paths import REAL_SET1, REAL_SET2

    return sorted(p for s in (REAL_SET1, REAL_SET2) for p in s.iterdir() if p.name != "README.md")


@pytest.mark.parametrize("path", _real_logs(), ids=lambda p: p.name[:40])
def test_quiet_on_the_real_logs(path):
    from bevlog.rules import get_rule

    runs, problems = parsers.read_paths([path])  # a work dir may hold several runs
    assert problems == [] and runs
    for run in runs:
        found = get_rule("no-takeoff")(run)
        work_dir = str((run.meta.config or {}).get("work_dir"))
        if "retinanet_r18" in work_dir:
            # set2 README #1: that launch's loss stays 1.55-1.82 and all 4 evaluations log "The
            # testing results of the whole dataset is empty": it never took off (a warning: the
            # empty evaluations carry no metric to confirm it)
            assert [f.severity for f in found] == ["warning"], run.name
        else:
            assert found == [], run.name


def test_a_diverged_run_is_divergence_not_no_takeoff():
    variant = DIVERGED / "detr3d_diverge"
    run = parsers.read(str(variant))
    rules = {f.rule for f in diagnose_run(run)}
    assert "divergence" in rules and "no-takeoff" not in rules


def test_without_evaluations_it_is_only_a_warning(tmp_path):
    # the same log with its evaluation lines removed: the stall alone is suspicious, not proof
    src = next((RUNS / "lr-3e-3").glob("*.log"))
    lines = [line for line in src.read_text().splitlines(keepends=True) if "Epoch(val)" not in line]
    (tmp_path / src.name).write_text("".join(lines))
    findings = no_takeoff(tmp_path / src.name)
    assert [f.severity for f in findings] == ["warning"]
