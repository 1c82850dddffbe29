"""attention-collapse on real bevdetr runs (fixtures/runs/issue13: logs with the per-layer attention
statistics), and silence where the statistics are absent (every other log in the repository)."""
import os

import pytest

import parsers
from bevlog.rules import get_rule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = os.path.join(ROOT, "fixtures", "runs", "issue13")


def collapse(name):
    return get_rule("attention-collapse")(parsers.read(os.path.join(RUNS, name)))


def test_fires_on_the_run_whose_attention_collapsed_at_lr_2e3():
    (f,) = collapse("tiny3-lr2e-3")
    # one sign (entropy; its logits grew x12.6, under the x30 threshold): info, the rule's thin basis
    assert f.severity == "info" and f.evidence["signs"] == ["entropy"]
    entropy = [p for p in f.evidence["per_layer"] if p["term"] == "entropy"]
    assert entropy and all(p["extreme"] < 0.1 < p["early"] for p in entropy)
    assert f.fix.changes == [{"param": "lr", "from": 2e-3, "to": 4e-4}]


@pytest.mark.parametrize("name", ["tiny-lr5e-4", "tiny-lr1e-3", "tiny-lr1e-3-nodropout", "tiny-lr2e-3"])
def test_silent_on_runs_that_took_off(name):
    run = parsers.read(os.path.join(RUNS, name))
    maps = run.evals[run.evals["metric"] == "bevdetr/mAP"]["value"]
    assert maps.iloc[-1] > 0.1                   # they learned: the attention did its job
    assert get_rule("attention-collapse")(run) == []


def test_silent_without_attention_statistics():
    run = parsers.read(os.path.join(ROOT, "fixtures", "runs", "lr-3e-3"))   # the earlier model logged none
    assert not any("attn" in c for c in run.train.columns)
    assert get_rule("attention-collapse")(run) == []


def test_warns_when_the_attention_collapses_after_take_off_as_the_lr_rises():
    """`tiny` at lr 2e-3 (took off: mAP 0.246 at iteration 1,200), resumed at 5x that lr: the
    issue's falls-then-rises mechanism, trained, not scripted."""
    run = parsers.read(os.path.join(RUNS, "tiny-lr2e-3-then-1e-2"))
    maps = run.evals[run.evals["metric"] == "bevdetr/mAP"].set_index("epoch")["value"]
    assert maps[12] > 0.2 and maps.iloc[-1] < 0.01
    (f,) = get_rule("attention-collapse")(run)
    assert f.severity == "warning" and f.evidence["signs"] == ["entropy", "logit_max"]
    assert f.evidence["onset_step"] >= 1200                 # after the lr rose, not during the take-off
    assert f.fix.changes == [{"param": "lr", "from": 0.01, "to": 0.002}]
