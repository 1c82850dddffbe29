"""The findings of every bundled run agree with each other and with the log (issue 17, "What to build"
3): fixtures/logs, fixtures/real, fixtures/runs (its seeds included), fixtures/compare and the
labelled variants, each read the way the CLI reads it. A contradiction anywhere fails the suite."""

from pathlib import Path

import pytest
from repo_paths import REAL_LOGS, REPO

ROOTS = {
    "logs": REPO / "fixtures" / "logs",
    "real": REAL_LOGS,
    "runs": REPO / "fixtures" / "runs",
    "compare": REPO / "fixtures" / "compare",
    "variants": REPO / "fixtures" / "labelled" / "variants",
}
NOT_LOGS = {"README.md", "expected.json"}


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


# the three large roots are whole-corpus checks: the slow tier
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in ("real", "runs", "variants") else n for n in sorted(ROOTS)]
)
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
    fake = [
        Finding(
            run.name, "lr-batch", "info", None, None, None, None, "the run learns well", {"learns_well": True}, Fix()
        ),
        Finding(run.name, "metric-chance", "error", None, None, None, None, "m", {"kind": "dead"}, Fix()),
        Finding(
            run.name,
            "plateau",
            "warning",
            int(run.train["step"].iloc[0]),
            int(run.train["step"].iloc[-1]),
            None,
            None,
            "m",
            {},
            Fix(),
        ),
    ]
    found = contradictions(run, dataclasses.replace(d, findings=fake))
    assert any("learns" in c for c in found) and any("spans a resume" in c for c in found)


def test_the_audit_s_contradictions_are_caught():
    """The kinds the verdict audit (docs/verdict_audit.md) found on the real logs, each caught: a loss said
    not to react on the row where the log's loss is 226 (STEALMOO retinanet launch, Epoch [1][1000/15169]);
    "without an error" said of a log file; the log called evaluation-free when it has evaluations; a
    milestone move that decays nowhere; a verdict milder than its worst finding."""
    import dataclasses

    from repo_paths import REAL_SET2

    import parsers
    from bevlog.consistency import contradictions
    from bevlog.diagnose import diagnose
    from bevlog.findings import Change, Finding, Fix
    from bevlog.fixes import plan_of

    (run,) = [
        r
        for r in parsers.read_paths([str(REAL_SET2 / "STEALMOO__CAICON__nohup.out")])[0]
        if r.name.endswith("@20240915_040439")
    ]
    d = diagnose(run)
    assert contradictions(run, d) == []
    spike = Finding(
        run.name,
        "grad-spike",
        "info",
        1000,
        1000,
        None,
        None,
        "grad_norm explosion at epoch 0.1: the loss did not rise after it",
        {},
        Fix(),
    )
    found = contradictions(run, dataclasses.replace(d, findings=[spike]))
    assert any("did not react at step 1,000" in c and "226" in c for c in found)

    text_log = parsers.read(str(REAL_SET2 / "hochstadtb__mmdetection3d__20220821_233842.log"))
    d = diagnose(text_log)
    assert contradictions(text_log, d) == []
    claims = [
        Finding(
            text_log.name,
            "log-integrity",
            "warning",
            None,
            None,
            None,
            None,
            "the log stops at epoch 10.5 without an error",
            {},
            Fix(),
        ),
        Finding(
            text_log.name,
            "no-takeoff",
            "warning",
            None,
            None,
            None,
            None,
            "the loss went flat; the log has no evaluation to confirm it",
            {},
            Fix(),
        ),
    ]
    found = contradictions(text_log, dataclasses.replace(d, findings=claims))
    assert any("mmcv-text log cannot show" in c for c in found)
    assert any("has no evaluation; it has" in c for c in found)

    codino = parsers.read_paths([str(REAL_SET2 / "Ly-Lynn__CoDETR__co_dino_5scale_r50_1x_coco")])[0][0]
    d = diagnose(codino)
    assert contradictions(codino, d) == []
    moved = Finding(
        codino.name,
        "schedule",
        "warning",
        None,
        None,
        None,
        None,
        "m",
        {},
        Fix("", [Change("lr_steps", [], [11], "lr_config.step")]),
    )
    found = contradictions(codino, dataclasses.replace(d, findings=[moved], plan=plan_of([moved], codino)))
    assert any("neither decays inside the run of 1" in c for c in found)
    assert any("verdict broken" in c or "severity" in c for c in found)  # d's 'broken' without an error finding
