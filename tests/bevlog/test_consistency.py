"""The findings of every bundled run agree with each other and with the log (issue 17, "What to build"
3): fixtures/logs, fixtures/real, fixtures/runs (its seeds included), fixtures/compare and the
labelled variants, each read the way the CLI reads it. A contradiction anywhere fails the suite."""
from pathlib import Path

import pytest
from conftest import REAL_LOGS, REPO

ROOTS = {
    "logs": REPO / "fixtures" / "logs",
    "real": REAL_LOGS,
    "runs": REPO / "fixtures" / "runs",
    "compare": REPO / "fixtures" / "compare",
    "variants": REPO / "fixtures" / "labelled" / "variants",
}
NOT_LOGS = {"README.md", "expected.json", "experiments_template.md"}


def _entries(root: Path) -> list[str]:
    """Every top-level entry of a root (a log, or a work dir whose runs are read together)."""
    out = []
    for p in sorted(root.rglob("*") if root.name == "real" else root.iterdir()):
        if root.name == "real" and p.parent.parent != root:
            continue  # fixtures/real/<set>/<entry>
        if p.name in NOT_LOGS or p.suffix in (".py", ".md") or p.name == "seeds":
            continue
        out.append(str(p))
    if root.name == "runs":
        out += [str(p) for p in sorted((root / "seeds").iterdir())]
    return out


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_no_run_contradicts_itself_or_its_log(name):
    import parsers
    from bevlog.consistency import contradictions
    from bevlog.diagnose import diagnose

    entries = _entries(ROOTS[name])
    assert entries
    problems, judged = [], 0
    for entry in entries:
        runs, _errors = parsers.read_paths([entry])  # not a training log (yet): refused, nothing to judge
        for run in runs:
            d = diagnose(run)
            judged += 1
            problems += [f"{run.name}: {c}" for c in contradictions(run, d)]
            _plan_is_the_findings(d, problems)
    assert judged
    assert problems == []


def _plan_is_the_findings(d, problems):
    """Every finding's change of a parameter is the plan's; every lr a fix text ends at is the plan's."""
    import re

    from bevlog.fixes import value_text

    for f in d.findings:
        for c in f.fix.changes if f.fix else []:
            planned = d.plan.changes.get(c.param)
            if planned is None or planned.to != c.to:
                problems.append(f"{d.run}: {f.rule}'s {c.param} → {c.to} is not the plan's")
        if "lr" in d.plan.changes:
            want = value_text("lr", d.plan.changes["lr"].to)
            for said in re.findall(r"\blr \S+ → ([0-9.e+-]+)", f.fix.text if f.fix else ""):
                if said.rstrip(",;") != want:
                    problems.append(f"{d.run}: {f.rule}'s text ends the lr at {said}, the plan at {want}")


def test_a_contradiction_is_caught(tmp_path):
    """The check can fail: a learns-well claim beside a dead metric, and a window across a resume."""
    import dataclasses

    import parsers
    from bevlog.consistency import contradictions
    from bevlog.diagnose import diagnose
    from bevlog.findings import Finding, Fix

    run = parsers.read(str(REPO / "fixtures" / "logs" / "mmcv_resume_epoch"))
    d = diagnose(run)
    fake = [Finding(run.name, "lr-batch", "info", None, None, None, None, "the run learns well", {"learns_well": True},
                    Fix()),
            Finding(run.name, "metric-chance", "error", None, None, None, None, "m", {"kind": "dead"}, Fix()),
            Finding(run.name, "plateau", "warning", int(run.train["step"].iloc[0]), int(run.train["step"].iloc[-1]),
                    None, None, "m", {}, Fix())]
    found = contradictions(run, dataclasses.replace(d, findings=fake))
    assert any("learns" in c for c in found) and any("spans a resume" in c for c in found)
