"""One fix plan per run (bevlog/fixes.py): every finding of a run agrees on each parameter it
changes, the verdict names the plan, JSON carries it. Checked over every log in the repository."""
import json
import re
from pathlib import Path

import pytest

from conftest import REAL_SET1, REAL_SET2, REPO

NOT_LOGS = {"README.md", "expected.json", "experiments_template.md"}


def _entries():
    roots = [REPO / "fixtures" / "logs", REAL_SET1, REAL_SET2, REPO / "fixtures" / "runs",
             REPO / "fixtures" / "labelled" / "variants"]
    out = []
    for root in roots:
        for p in sorted(root.iterdir()):
            if p.name in NOT_LOGS or p.suffix in (".py", ".md"):
                continue
            out.append(p)
    return out


ENTRIES = _entries()


def test_the_corpus_is_every_kind_of_log():
    names = {p.parent.name for p in ENTRIES}
    assert {"logs", "set1", "set2", "runs", "variants"} <= names and len(ENTRIES) > 80


@pytest.mark.slow  # every log in the repository
@pytest.mark.parametrize("path", ENTRIES, ids=lambda p: f"{p.parent.name}/{p.name[:45]}")
def test_all_findings_of_a_run_agree_on_every_parameter(path: Path, bundled_diagnoses):
    from bevlog.diagnose import diagnose_paths
    from bevlog.fixes import plan_of
    from bevlog.rules._common import fmt

    if path.parent == REPO / "fixtures" / "runs":  # diagnosed once for the session
        diagnoses, errors = [d for d in bundled_diagnoses.values()
                             if any(Path(s).is_relative_to(path) for s in d.meta["sources"])], []
    else:
        diagnoses, errors = diagnose_paths([str(path)], jobs=1)  # the CLI's road: every run under the path
    assert diagnoses or errors
    for error in errors:  # not a training log (yet): refused with the file named
        assert path.name in str(error)
    for d in diagnoses:
        _agree(d.findings, plan_of(d.findings), fmt)


def _agree(findings, plan, fmt):
    values: dict[str, set] = {}
    for f in findings:
        for c in f.fix.changes if f.fix else []:
            values.setdefault(c["param"], set()).add((repr(c.get("from")), repr(c["to"])))
    disagree = {p: v for p, v in values.items() if len(v) > 1}
    assert not disagree, [(f.rule, f.fix.changes) for f in findings if f.fix and f.fix.changes]
    assert set(plan.changes) == set(values)
    # the words agree with the plan too: every "lr A → B" a fix says ends at the plan's lr
    if "lr" in plan.changes:
        want = fmt(plan.changes["lr"].to)
        for f in findings:
            for said in re.findall(r"\blr \S+ → ([0-9.e+-]+)", f.fix.text if f.fix else ""):
                assert said == want, (f.rule, f.fix.text)


def test_the_nan_run_gets_one_lr_and_the_verdict_names_the_plan():
    """mmcv_nan_loss: divergence alone says lr 0.05 → 0.025, nonfinite-loss 0.05 → 0.017: one plan."""
    from click.testing import CliRunner

    from bevlog.cli import cli

    path = str(REPO / "fixtures" / "logs" / "mmcv_nan_loss")
    text = CliRunner().invoke(cli, ["diagnose", path]).stdout
    assert "verdict: broken — fix: lr 0.05 → 0.017, warmup 500 iters, grad_clip 35" in text
    out = json.loads(CliRunner().invoke(cli, ["diagnose", path, "--format", "json"]).stdout)
    (r,) = out["runs"]
    (div,) = [f for f in r["findings"] if f["rule"] == "divergence"]
    assert div["fix"]["text"].startswith("→ plan: lr 0.05 → 0.017 (set by nonfinite-loss; divergence alone: 0.025)")
    plan = {c["param"]: c for c in r["plan"]}
    assert plan["lr"] == {"param": "lr", "from": 0.05, "to": 0.017, "severity": "error",
                          "set_by": ["nonfinite-loss"], "rules": ["divergence", "nonfinite-loss"]}
    assert plan["warmup_iters"]["to"] == 500 and plan["grad_clip"]["to"] == 35
    for f in r["findings"]:
        for c in f["fix"]["changes"]:
            assert c["to"] == plan[c["param"]]["to"]


def test_a_note_does_not_overrule_a_problem_and_a_larger_cut_wins():
    from bevlog.findings import Finding, Fix
    from bevlog.fixes import apply_plan, plan_of

    def f(rule, severity, changes, text):
        return Finding("r", rule, severity, None, None, None, None, "m", {}, Fix(text, changes))

    fs = [f("divergence", "error", [{"param": "lr", "from": 6e-4, "to": 1.5e-4},
                                    {"param": "warmup_iters", "from": None, "to": 500}],
            "lr 6.0e-04 → 1.5e-04 (half the 3.0e-04 at which the rise began); warmup ≥ 500 iters at ratio 1/3"),
          f("grad-spike", "error", [{"param": "lr", "from": 6e-4, "to": 3e-4},
                                    {"param": "warmup_iters", "from": None, "to": 1000}],
            "lr 6.0e-04 → 3.0e-04; warmup ≥ 1000 iters"),
          f("lr-batch", "info", [{"param": "lr", "from": 6e-4, "to": 1.2e-3}], "lr 6.0e-04 → 1.2e-03 (bevdetr)")]
    plan = plan_of(fs)
    assert plan.changes["lr"].to == 1.5e-4 and plan.changes["lr"].set_by == ["divergence"]
    assert plan.changes["warmup_iters"].to == 1000 and plan.changes["lr"].severity == "error"
    apply_plan(fs, plan)
    assert fs[1].fix.text == ("→ plan: lr 6.0e-04 → 1.5e-04 (set by divergence; grad-spike alone: 3.0e-04); "
                              "warmup ≥ 1000 iters")
    assert fs[2].fix.changes == [{"param": "lr", "from": 6e-4, "to": 1.5e-4}]
    assert fs[2].evidence["own_fix"] == {"lr": 1.2e-3}
    assert plan_of(fs).changes["lr"].to == 1.5e-4  # idempotent: the plan of the rewritten findings
    assert plan.summary() == "lr 6.0e-04 → 1.5e-04, warmup 1000 iters"
