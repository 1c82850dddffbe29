"""attention-collapse on real bevdetr runs (fixtures/runs/issue13: logs with the per-layer attention
statistics), and silence where the statistics are absent (every other log in the repository)."""

import os

import pytest
from labelled_runs import core

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
    assert core(f.fix.changes) == [{"param": "lr", "from": 2e-3, "to": 4e-4}]


@pytest.mark.parametrize("name", ["tiny-lr5e-4", "tiny-lr1e-3", "tiny-lr1e-3-nodropout", "tiny-lr2e-3"])
def test_silent_on_runs_that_took_off(name):
    run = parsers.read(os.path.join(RUNS, name))
    maps = run.evals[run.evals["metric"] == "bevdetr/mAP"]["value"]
    assert maps.iloc[-1] > 0.1  # they learned: the attention did its job
    assert get_rule("attention-collapse")(run) == []


def test_silent_without_attention_statistics():
    run = parsers.read(os.path.join(ROOT, "fixtures", "runs", "lr-3e-3"))  # the earlier model logged none
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
    assert f.evidence["onset_step"] >= 1200  # after the lr rose, not during the take-off
    assert core(f.fix.changes) == [{"param": "lr", "from": 0.01, "to": 0.002}]


SEEDS = os.path.join(ROOT, "fixtures", "runs", "seeds")


def _seed_runs(prefix):
    names = sorted(d for d in os.listdir(SEEDS) if d.rsplit("-s", 1)[0] == prefix)
    assert len(names) >= 3, names
    return [(name, parsers.read(os.path.join(SEEDS, name))) for name in names]


def _map(run):
    return run.evals[run.evals["metric"] == "bevdetr/mAP"]["value"].to_numpy()


# a rise of the smoothed loss this far above its lowest point is one a user sees on the curve
VISIBLE_RISE = 0.10


@pytest.mark.parametrize("name,run", _seed_runs("cyclic-5x"), ids=lambda x: x if isinstance(x, str) else "")
def test_warns_before_the_loss_turns_when_the_lr_rises_after_take_off(name, run):
    """The seeded sweep's falls-then-rises runs: mmcv's cyclic lr climbing from the healthy 1e-3 to
    5e-3 over 1,800 iterations. In every seed the loss fell, then rose as the lr climbed, and the
    detector ended at chance. The warning's onset comes before the smoothed loss (rolling median of
    5 rows) first stands 10% above its lowest point, which this test finds on its own from the log,
    and before bevlog's loss-based divergence finding when that fires."""
    loss = run.train["loss"].rolling(5, center=True, min_periods=1).median().to_numpy()
    steps = run.train["step"].to_numpy()
    low = int(loss.argmin())
    assert loss[low] < 0.8 * loss[0] and loss[low:].max() >= (1 + VISIBLE_RISE) * loss[low]  # fell, then rose
    assert _map(run)[-1] < 0.01
    (f,) = get_rule("attention-collapse")(run)
    assert f.severity == "warning" and f.evidence["signs"] == ["entropy", "logit_max"]
    risen = next(i for i in range(low, len(loss)) if loss[i] >= (1 + VISIBLE_RISE) * loss[low])
    assert f.evidence["onset_step"] < steps[risen], (f.evidence["onset_step"], int(steps[risen]))
    for d in get_rule("divergence")(run):
        assert f.evidence["onset_step"] < d.start_step
    assert f.fix.changes[0]["param"] == "lr" and f.fix.changes[0]["to"] < f.fix.changes[0]["from"]


def test_no_warning_on_the_seeds_that_took_off_and_held():
    """Every seed of the sweep's healthy-lr arms that ended with mAP >= 0.1 (a seed that took off
    late, or lost its take-off at 2e-3, is no healthy example): at most the one-sign info."""
    checked = 0
    for prefix in ("base", "lr-2e-3", "layers-6", "wide"):
        for name, run in _seed_runs(prefix):
            if _map(run)[-1] < 0.1:
                continue
            assert [f for f in get_rule("attention-collapse")(run) if f.severity != "info"] == [], name
            checked += 1
    assert checked >= 10


def test_aux_missing_is_not_fooled_by_per_layer_attention_statistics():
    """`d0.attn_entropy` is logged per layer like an aux loss; a 6-layer run without aux losses
    still gets aux-missing (the held-out sweep caught the rule reading the statistics as aux losses).
    Its severity follows the run's outcome: a note saying so on a run that went well without them."""
    from bevlog.rules._common import outcome

    for name, run in _seed_runs("layers-6-aux-off"):
        assert "d0.attn_entropy" in run.train.columns
        (f,) = get_rule("aux-missing")(run)
        assert f.severity == ("warning" if outcome(run).poor else "info"), name
        assert outcome(run).poor or "went well without them" in f.message
    for name, run in _seed_runs("layers-6"):
        assert get_rule("aux-missing")(run) == [], name
