"""One fix plan per run (bevlog/fixes.py): every finding of a run agrees on each parameter it
changes, the verdict names the plan, JSON carries it (checked over every bundled run by
test_consistency.py)."""
import json

from conftest import REPO
from labelled_runs import core

# every bundled run's findings agree with its plan: tests/bevlog/test_consistency.py


def test_the_nan_run_gets_one_lr_and_the_verdict_names_the_plan():
    """mmcv_nan_loss: divergence alone says lr 0.05 → 0.025, nonfinite-loss 0.05 → 0.017: one plan, in the
    config's own keys; the warmup both ask for (500) is longer than this 99-iteration run, so the plan
    caps it at a quarter of the run."""
    from click.testing import CliRunner

    from bevlog.cli import cli

    path = str(REPO / "fixtures" / "logs" / "mmcv_nan_loss")
    text = CliRunner().invoke(cli, ["diagnose", path]).stdout
    assert ("fix: optimizer.lr 0.05 → 0.017, lr_config.warmup_iters = 24, optimizer_config.grad_clip.max_norm = 35"
            in " ".join(text.split()))
    out = json.loads(CliRunner().invoke(cli, ["diagnose", path, "--format", "json"]).stdout)
    (r,) = out["runs"]
    (div,) = [f for f in r["findings"] if f["rule"] == "divergence"]
    assert div["fix"]["text"].startswith("plan: optimizer.lr 0.05 → 0.017 (set by nonfinite-loss; divergence alone: 0.025)")
    plan = {c["param"]: c for c in r["plan"]}
    assert {k: plan["lr"][k] for k in ("param", "from", "to", "key", "severity", "set_by", "rules")} == {
        "param": "lr", "from": 0.05, "to": 0.017, "key": "optimizer.lr", "severity": "error",
        "set_by": ["nonfinite-loss"], "rules": plan["lr"]["rules"]}
    assert sorted(plan["lr"]["rules"]) == ["divergence", "nonfinite-loss"]
    assert plan["warmup_iters"]["to"] == 24 and "capped at 25% of the run's 99 iterations" in plan["warmup_iters"]["reason"]
    assert plan["grad_clip"]["to"] == 35 and plan["grad_clip"]["key"] == "optimizer_config.grad_clip.max_norm"
    for f in r["findings"]:
        for c in f["fix"]["changes"]:
            assert c["to"] == plan[c["param"]]["to"]


def test_a_note_does_not_overrule_a_problem_and_a_larger_cut_wins():
    from bevlog.findings import Change, Finding, Fix
    from bevlog.fixes import apply_plan, plan_of, render_fix

    def f(rule, severity, changes):
        return Finding("r", rule, severity, None, None, None, None, "m", {}, Fix(render_fix(changes), changes))

    fs = [f("divergence", "error", [Change("lr", 1.5e-4, 6e-4, "optimizer.lr", reason="half the 3.0e-04 at which "
                                                                                      "the rise began"),
                                    Change("warmup_iters", 500, key="lr_config.warmup_iters")]),
          f("grad-spike", "error", [Change("lr", 3e-4, 6e-4, "optimizer.lr"),
                                    Change("warmup_iters", 1000, key="lr_config.warmup_iters")]),
          f("lr-batch", "info", [Change("lr", 1.2e-3, 6e-4, "optimizer.lr", reason="bevdetr")])]
    plan = plan_of(fs)
    assert plan.changes["lr"].to == 1.5e-4 and plan.changes["lr"].set_by == ["divergence"]
    assert plan.changes["warmup_iters"].to == 1000 and plan.changes["lr"].severity == "error"
    apply_plan(fs, plan)
    assert fs[1].fix.text == ("plan: optimizer.lr 6.0e-04 → 1.5e-04 (set by divergence; grad-spike alone: 3.0e-04); "
                              "lr_config.warmup_iters = 1000")
    assert core(fs[2].fix.changes) == [{"param": "lr", "from": 6e-4, "to": 1.5e-4}]
    assert fs[2].evidence["own_fix"] == {"lr": 1.2e-3}
    assert plan_of(fs).changes["lr"].to == 1.5e-4  # idempotent: the plan of the rewritten findings
    assert plan.summary() == "optimizer.lr 6.0e-04 → 1.5e-04, lr_config.warmup_iters = 1000"
