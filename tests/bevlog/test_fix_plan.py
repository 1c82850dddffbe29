"""One fix plan per run (bevlog/fixes.py): every finding of a run agrees on each parameter it
changes, the verdict names the plan, JSON carries it (checked over every bundled run by
test_consistency.py)."""

import json

from labelled_runs import core
from repo_paths import REPO

# every bundled run's findings agree with its plan: tests/bevlog/test_consistency.py


def test_the_nan_run_gets_one_lr_and_the_verdict_names_the_plan():
    """mmcv_nan_loss: divergence alone says lr 0.05 → 0.025, nonfinite-loss 0.05 → 0.017: one plan, in the
    config's own keys; the warmup both ask for (500) is longer than this 99-iteration run, so the plan
    caps it at a quarter of the run."""
    from click.testing import CliRunner

    from bevlog.cli import cli

    path = str(REPO / "fixtures" / "logs" / "mmcv_nan_loss")
    text = CliRunner().invoke(cli, ["diagnose", path]).stdout
    assert (
        "fix: optimizer.lr 0.05 → 0.017, lr_config.warmup_iters = 24, optimizer_config.grad_clip.max_norm = 35"
        in " ".join(text.split())
    )
    out = json.loads(CliRunner().invoke(cli, ["diagnose", path, "--format", "json"]).stdout)
    (r,) = out["runs"]
    (div,) = [f for f in r["findings"] if f["rule"] == "divergence"]
    assert div["fix"]["text"].startswith(
        "plan: optimizer.lr 0.05 → 0.017 (set by nonfinite-loss; divergence alone: 0.025)"
    )
    plan = {c["param"]: c for c in r["plan"]}
    assert {k: plan["lr"][k] for k in ("param", "from", "to", "key", "severity", "set_by", "rules")} == {
        "param": "lr",
        "from": 0.05,
        "to": 0.017,
        "key": "optimizer.lr",
        "severity": "error",
        "set_by": ["nonfinite-loss"],
        "rules": plan["lr"]["rules"],
    }
    assert sorted(plan["lr"]["rules"]) == ["divergence", "nonfinite-loss"]
    assert (
        plan["warmup_iters"]["to"] == 24
        and "capped at 25% of the run's 99 iterations" in plan["warmup_iters"]["reason"]
    )
    assert plan["grad_clip"]["to"] == 35 and plan["grad_clip"]["key"] == "optimizer_config.grad_clip.max_norm"
    for f in r["findings"]:
        for c in f["fix"]["changes"]:
            assert c["to"] == plan[c["param"]]["to"]


def test_a_note_does_not_overrule_a_problem_and_a_larger_cut_wins():
    from bevlog.findings import Change, Finding, Fix
    from bevlog.fixes import apply_plan, plan_of, render_fix

    def f(rule, severity, changes):
        return Finding("r", rule, severity, None, None, None, None, "m", {}, Fix(render_fix(changes), changes))

    fs = [
        f(
            "divergence",
            "error",
            [
                Change("lr", 1.5e-4, 6e-4, "optimizer.lr", reason="half the 3.0e-04 at which the rise began"),
                Change("warmup_iters", 500, key="lr_config.warmup_iters"),
            ],
        ),
        f(
            "grad-spike",
            "error",
            [Change("lr", 3e-4, 6e-4, "optimizer.lr"), Change("warmup_iters", 1000, key="lr_config.warmup_iters")],
        ),
        f("lr-batch", "info", [Change("lr", 1.2e-3, 6e-4, "optimizer.lr", reason="bevdetr")]),
    ]
    plan = plan_of(fs)
    assert plan.changes["lr"].to == 1.5e-4 and plan.changes["lr"].set_by == ["divergence"]
    assert plan.changes["warmup_iters"].to == 1000 and plan.changes["lr"].severity == "error"
    apply_plan(fs, plan)
    assert fs[1].fix.text == (
        "plan: optimizer.lr 6.0e-04 → 1.5e-04 (set by divergence; grad-spike alone: 3.0e-04); "
        "lr_config.warmup_iters = 1000"
    )
    assert core(fs[2].fix.changes) == [{"param": "lr", "from": 6e-4, "to": 1.5e-4}]
    assert fs[2].evidence["own_fix"] == {"lr": 1.2e-3}
    assert plan_of(fs).changes["lr"].to == 1.5e-4  # idempotent: the plan of the rewritten findings
    assert plan.summary() == "optimizer.lr 6.0e-04 → 1.5e-04, lr_config.warmup_iters = 1000"


def _lr_batch_and_plan(path):
    import parsers
    from bevlog.diagnose import diagnose

    d = diagnose(parsers.read(path))
    (f,) = [f for f in d.findings if f.rule == "lr-batch"]
    return f, d.plan


def test_lr_batch_offers_a_larger_batch_only_where_something_grounds_it(real_logs):
    """Instead of a lower lr, "keep it and reach batch N with gradient accumulation": N is
    where the reference would give the run's lr. DETR3D (AdamW 2e-4 at batch 4): N = 8 is the
    batch the recipe published 2e-4 at. Faster R-CNN at lr 0.1 (SGD): N = 80 exists only by linear
    scaling, an SGD result, and says so. bevdetr at peak 5e-3 (AdamW): N = 20 would be an
    extrapolation by a rule untested for AdamW (its one test here shows no sign that it holds), so
    nothing is offered. Never part of the plan."""
    detr3d, plan = _lr_batch_and_plan(real_logs / "set1" / "PrymceQ__3DDetection_DETR3D__20230727_114037.log")
    alt = detr3d.fix.alternative
    assert alt.replaces == "lr" and alt.basis == "the DETR3D recipe's lr was set for total batch 8"
    assert [(c.param, c.to, c.key) for c in alt.changes] == [
        ("gradient_accumulation", 2, "optimizer_config.cumulative_iters (type='GradientCumulativeOptimizerHook')")
    ]
    assert "gradient_accumulation" not in plan.changes
    assert detr3d.fix.text.endswith(
        "or, instead of the lr change, optimizer_config.cumulative_iters "
        "(type='GradientCumulativeOptimizerHook') = 2 (total batch 4 → 8 at the same lr): "
        "the DETR3D recipe's lr was set for total batch 8"
    )
    rcnn, _ = _lr_batch_and_plan(
        real_logs / "set2" / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
    )
    assert rcnn.fix.alternative.changes[0].to == 10  # total batch 8 → 80
    assert rcnn.fix.alternative.basis.startswith("linear lr–batch scaling (Goyal et al. 2017), an SGD result")
    cyclic, _ = _lr_batch_and_plan(REPO / "fixtures" / "runs" / "seeds" / "cyclic-5x-s0")
    assert cyclic.evidence["ratio"] == 2.5 and cyclic.fix.alternative is None
    assert "accumulation" not in cyclic.fix.text
    doc = cyclic.to_dict()
    assert doc["fix"]["alternative"] is None and detr3d.to_dict()["fix"]["alternative"]["changes"][0]["to"] == 2
