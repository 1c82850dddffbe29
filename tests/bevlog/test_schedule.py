"""The lr-schedule model (bevlog/schedule.py) and the rules that ask it: lr-drop, warmup, plateau,
lr-batch. Must-fire and must-not-fire on real logs (fixtures/real) and bevdetr runs (fixtures/runs)."""

import copy
import functools

import pytest
from labelled_runs import core
from repo_paths import REAL_SET1, REAL_SET2, REPO

BOOSTCAMP = REAL_SET2 / "boostcampaitech3__level2-object-detection-level2-cv-11__20220328_030936.log"
POINTPILLARS = REAL_SET2 / "hochstadtb__mmdetection3d__20220821_233842.log"
IFCOS = REAL_SET2 / "zhaoyang97__mmdetection__ifcos_moco" / "20201016_165717.log"  # the launch that ran 12 epochs
LRX10 = REAL_SET2 / "zhaoyang97__mmdetection__faster_rcnn_r50_fpn_1x_tctplus_imagenetinit_lrx10"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
DINO = REAL_SET2 / "CVIU-CSU__EPCPE__20240310_192200.log"
RUNS = REPO / "fixtures" / "runs"


@functools.cache
def _read(path):
    import parsers

    return parsers.read(str(path))


def fresh(path, **changes):
    """A new Run of `path` (frames shared, its own derived-signal cache) with `changes` to its meta."""
    import dataclasses

    base = _read(path)
    if dataclasses.is_dataclass(base.meta):  # the typed, frozen Meta
        meta = dataclasses.replace(base.meta, **changes)
    else:
        meta = {**copy.deepcopy(base.meta), **changes}
    own = {"extra": {}} if "extra" in {f.name for f in dataclasses.fields(base)} else {}
    return dataclasses.replace(base, meta=meta, **own)


def rule(name, run, **overrides):
    from bevlog.rules import get_rule

    return get_rule(name)(run, **overrides)


def schedule(run):
    from bevlog.rules._common import signals

    return signals(run).schedule


# ---- cosine by epoch with a linear warmup (mmcv CosineAnnealing, by_epoch default) ------


def test_cosine_by_epoch_with_warmup_is_modelled_from_the_config():
    s = schedule(fresh(BOOSTCAMP))
    assert (s.policy, s.by_epoch, s.warmup, s.warmup_iters, s.warmup_from) == ("cosine", True, "linear", 488, "config")
    assert s.continuous and s.peak_lr() == pytest.approx(1e-4, rel=0.01)


@pytest.mark.parametrize("config", ["kept", "stripped"])
def test_cosine_staircase_and_warmup_ramp_are_never_lr_drops(config):
    """With or without its config, the by-epoch cosine's treads (late ones fall 30-50%) and the
    warmup ramp (9.9e-6 → 2e-5 …) are the schedule's: no lr-drop, no restart."""
    from bevlog.rules._common import signals
    from bevlog.schedule import lr_changes

    run = fresh(BOOSTCAMP) if config == "kept" else fresh(BOOSTCAMP, config=None, lr_schedule=None)
    sig = signals(run)
    kinds = {c.kind for c in lr_changes(sig, sig.schedule)}
    assert kinds and kinds <= {"warmup", "curve"}  # there are marked changes, all the schedule's
    if config == "stripped":
        assert sig.schedule.policy is None and sig.schedule.staircase and sig.schedule.warmup_from == "log"
    assert rule("lr-drop", run) == []


def test_a_real_step_schedule_is_still_an_lr_drop():
    """zhaoyang97 FCOS: steps at epochs 8 and 11 (mmcv step policy) are events."""
    fs = rule("lr-drop", fresh(IFCOS))
    assert [round(f.start_epoch) for f in fs] == [8, 11]
    assert schedule(fresh(IFCOS)).policy == "step"


# ---- cyclic (mmcv policy='cyclic', target_ratio 10) ------------------------------------------


def test_cyclic_peak_is_base_times_target_ratio_and_its_climb_is_no_warmup():
    run = fresh(POINTPILLARS)
    s = schedule(run)
    assert s.policy == "cyclic" and s.config_peak == pytest.approx(1e-2) and s.peak_lr() == pytest.approx(1e-2)
    assert s.warmup_iters is None and s.warmup_end_row == 0  # not the 10k-iteration "warmup" the lr suggests
    assert s.ramp_end_step == pytest.approx(0.4 * 80 * 1995)
    assert rule("warmup", run) == [] and rule("lr-drop", run) == []


def test_cyclic_lr_batch_compares_peak_with_the_published_recipe_and_is_a_note_on_a_run_that_learns():
    (f,) = rule("lr-batch", fresh(POINTPILLARS))
    ev = f.evidence
    assert ev["reference"] == "recipe" and ev["reference_name"] == "PointPillars"
    assert "hv_pointpillars_secfpn_6x8_160e_kitti-3d-3class" in f.message  # the recipe and its source
    assert ev["ratio"] == pytest.approx(8.0)  # 1e-3 (peak 1e-2) at batch 6 vs 1e-3 (peak 1e-2) at batch 48
    assert ev["learns_well"] and f.severity == "info"  # KITTI AP 28 → 47: never "fix the lr first"
    assert core(f.fix.changes) == [{"param": "lr", "from": 1e-3, "to": 1.3e-4}]  # 1.25e-4, two digits


# ---- warmup on a live log ------------------------------------------------------------------


def _partial(path, rows, **meta):
    run = fresh(path, **meta)
    run.train = run.train.iloc[:rows].copy()
    return run


def test_live_log_still_ramping_is_not_past_its_warmup():
    """Without a config the lr's climb is read as a warmup; cut while it still climbs, `watch`
    must not treat the warmup as over (the old reading took half the log for the warmup)."""
    from bevlog.rules._common import signals
    from bevlog.schedule import warmup_end

    run = _partial(POINTPILLARS, 300, config=None, lr_schedule=None)
    sig = signals(run)
    assert sig.schedule.warmup_from == "log" and sig.warmup_end_row < len(sig.step)  # finished-log reading
    assert warmup_end(sig, live=True) == (len(sig.step), None)
    from bevlog.rules.warmup import find_warmup  # (Rule.__call__ takes `live` once rules get it)

    assert not [f for f in find_warmup(run, live=True) if "warmup ended" in f.message]
    live = _partial(POINTPILLARS, 300, config=None, lr_schedule=None)
    from bevlog.diagnose import diagnose_run

    assert not [f for f in diagnose_run(live, live=True) if "warmup ended" in f.message]


def test_live_log_whose_lr_settled_is_past_its_warmup():
    from bevlog.rules._common import signals
    from bevlog.schedule import warmup_end

    run = _partial(BOOSTCAMP, 60, config=None, lr_schedule=None)
    sig = signals(run)
    end, iters = warmup_end(sig, live=True)
    assert 5 <= end < 15 and iters == int(sig.step[end])  # the lr reached 1e-4 at ~488 iterations and stayed


# ---- plateau: % of the run's peak, not of a resumed segment's maximum ----------------------


def test_plateau_on_a_resumed_segment_measures_against_the_configs_peak():
    """DETR3D's cosine between epochs 17 and 21, as if the log started at a resume: the lr ends
    at ~8e-6, 20% of the segment's own maximum but 4% of the run's peak (2e-4): the lr has
    run down, so a flat loss there is not a plateau at a high lr."""
    first = _read(DETR3D).meta["segments"][0]
    run = fresh(DETR3D, segments=[dict(first, resumed_from={"epoch": 17, "iter": 119561})])
    t = run.train
    run.train = t[(t["epoch_f"] > 17) & (t["epoch_f"] < 21)].copy()
    everything_flat = {"min_fall": 1.0, "max_rise": 10.0}  # judge only the lr's share of the peak
    assert schedule(run).peak_lr() == pytest.approx(2e-4)
    assert rule("plateau", run, **everything_flat) == []
    # the same rows without a resume line: the log starts mid-run (epoch 17), said so, and judged the
    # same way — against the config's peak, not its own maximum
    not_resumed = fresh(DETR3D)
    not_resumed.train = run.train
    assert rule("plateau", not_resumed, **everything_flat) == []
    assert [f.evidence["kind"] for f in rule("log-integrity", not_resumed)] == ["mid_run"]


# ---- lr-batch: config intent > published recipe > nothing ---------------------------------


def test_lr_batch_follows_the_configs_own_total_batch():
    """The issue's example: total_batch_size = 48 with lr 6e-4 in the config, run on 1 GPU × 6:
    the fix is the config's own intent scaled, 6e-4 × 6/48 = 7.5e-5, not a recipe."""
    config = dict(_read(STREAMPETR).meta["config"], total_batch_size=48)
    run = fresh(STREAMPETR, lr=6e-4, total_batch=6, num_gpus=1, samples_per_gpu=6, config=config)
    (f,) = rule("lr-batch", run)
    assert f.evidence["reference"] == "config" and "total_batch_size = 48" in f.message
    assert core(f.fix.changes) == [{"param": "lr", "from": 6e-4, "to": 7.5e-5}]
    # 8× the intent, on a run that went well: a note that says so (a warning only on a poor outcome)
    assert f.severity == "info" and "went well" in f.message


def test_lr_batch_silent_without_a_config_intent_or_a_recipe_for_the_model():
    """DINO variant (mmengine, lr 1e-4 at batch 32, auto_scale_lr enabled): no recipe for its model
    type, the runner already scaled the lr: nothing grounded, nothing said."""
    assert rule("lr-batch", fresh(DINO)) == []
    assert rule("lr-batch", fresh(BOOSTCAMP)) == []  # Cascade R-CNN: no recipe


def test_lr_batch_names_the_published_recipe_it_used():
    (f,) = rule("lr-batch", fresh(DETR3D))
    assert f.evidence["reference_name"] == "DETR3D" and "detr3d_res101_gridmask.py" in f.message


@pytest.mark.parametrize("name", ["base", "lr-2e-3", "aux-off", "base-nostep", "lr-3e-3-warmup1000"])
def test_bevdetr_runs_that_learn_get_no_lr_warning(name):
    """bevdetr's own measured recipe (1e-3…2e-3 at batch 8, docs/experiments.md): its best runs are
    on it, and a run that learns well is at most a note."""
    assert [f for f in rule("lr-batch", fresh(RUNS / name)) if f.severity != "info"] == []


@pytest.mark.parametrize("name", ["lr-3e-3", "lr-1e-2"])
def test_bevdetr_runs_that_never_took_off_get_an_lr_warning_from_bevdetrs_recipe(name):
    (f,) = rule("lr-batch", fresh(RUNS / name))
    assert f.severity == "warning" and f.evidence["reference_name"] == "bevdetr"
    assert f.fix.changes[0]["to"] == pytest.approx(2e-3)  # the top of the measured range


@pytest.mark.slow  # all of fixtures/runs
def test_diagnose_runs_no_lr_fix_first_on_runs_near_the_sweeps_best(bundled_runs, bundled_diagnoses):
    from bevlog.commands.diagnose import verdict_hint
    from bevlog.evaluations import headline_series

    diagnoses, runs = list(bundled_diagnoses.values()), bundled_runs  # all of fixtures/runs, issue13/ included
    assert len(diagnoses) >= 15
    final = {d.run: headline_series(runs[d.run]).value[-1] for d in diagnoses}
    best = max(final.values())
    near = [d for d in diagnoses if final[d.run] >= 0.9 * best]
    assert near
    for d in near:
        hint = verdict_hint(d)
        assert "learning rate" not in hint and "bevdetr.lr" not in hint, (d.run, hint)
    # and the runs that never took off are told to fix their lr, in the config's own key
    dead = [d for d in diagnoses if final[d.run] == 0]
    assert dead and all("fix: bevdetr.lr " in verdict_hint(d) for d in dead)


# ---- lr-drop reads the evaluations ---------------------------------------------------------


def test_lr_drop_says_the_metric_rose_faster_but_does_not_credit_the_step():
    f = rule("lr-drop", fresh(IFCOS))[0]
    assert f.evidence["metric_verdict"] == "rose faster"
    assert f.evidence["metric_before"] == pytest.approx(0.162) and f.evidence["metric_after"] == pytest.approx(0.186)
    assert "not model improvement" not in f.message and "helped" not in f.message
    assert "only a run without the step can say" in f.message


def test_lr_drop_does_not_credit_a_step_that_a_control_run_beat():
    """bevdetr's seeded sweep: the lr x0.1 at epoch 10 (`step-9`) against the same seeds without it
    (`base`). Every control ended higher, so any wording that credits the step is wrong."""
    checked = 0
    for seed in range(3):
        stepped, control = (fresh(RUNS / "seeds" / f"{name}-s{seed}") for name in ("step-9", "base"))
        final = [r.evals[r.evals["metric"] == "bevdetr/mAP"]["value"].iloc[-1] for r in (stepped, control)]
        assert final[1] > final[0]
        (f,) = rule("lr-drop", stepped)
        assert f.evidence["lr_before"] == pytest.approx(1e-3) and f.evidence["lr_after"] == pytest.approx(1e-4)
        assert "helped" not in f.message
        if f.evidence["metric_verdict"] == "rose faster":
            assert "only a run without the step can say" in f.message
            checked += 1
    assert checked >= 1


def test_lr_drop_calls_it_not_model_improvement_only_when_the_evaluations_do_not_improve():
    fs = rule("lr-drop", fresh(LRX10))
    flat = [f for f in fs if f.evidence.get("metric_verdict") == "no improvement"]
    assert flat and all(f.evidence["metric_after"] - f.evidence["metric_before"] < 0.004 for f in flat)
    assert all("did not improve" in f.message for f in flat)


def test_lr_drop_on_bevdetr_base_reports_the_real_map_gain():
    """The step at epoch 6 gave a real gain (base 0.624 vs base-nostep 0.561): never 'not model improvement'."""
    (f,) = rule("lr-drop", fresh(RUNS / "base"))
    assert (
        f.evidence["metric_after"] == pytest.approx(0.6236) and f.evidence["metric_after"] > f.evidence["metric_before"]
    )
    assert f.evidence["metric_verdict"] in ("rose faster", "improved") and "not model improvement" not in f.message
    assert rule("lr-drop", fresh(RUNS / "base-nostep")) == []


# ---- resumes -------------------------------------------------------------------------------


def test_an_lr_change_across_a_resume_is_the_resumes_not_an_lr_drop():
    """zhaoyang97 lrx10: resumed at epoch 4 with the lr edited 0.1 → 0.001 (the `segment` column
    changes there); the steps at epochs 6, 8, 10 are the schedule's events."""
    from bevlog.rules._common import signals
    from bevlog.schedule import lr_changes

    run = fresh(LRX10)
    sig = signals(run)
    by_kind = {}
    for c in lr_changes(sig, sig.schedule):
        by_kind.setdefault(c.kind, []).append(round(float(sig.epoch_f[c.row])))
    assert by_kind["resume"] == [4] and by_kind["step"] == [6, 8, 10] and by_kind["warmup"]
    assert [round(f.start_epoch) for f in rule("lr-drop", run)] == [6, 8, 10]


# ---- mmengine param_scheduler lists --------------------------------------------------------


def test_mmengine_linear_warmup_then_multistep():
    """A genuine mmengine runner's log (fixtures/logs/mmengine_iter): LinearLR warmup by iteration,
    then MultiStepLR."""
    s = schedule(fresh(REPO / "fixtures" / "logs" / "mmengine_iter"))
    assert (s.policy, s.warmup, s.warmup_from, s.warmup_iters) == ("step", "linear", "config", 10)


def test_mmengine_cyclic_recipe_climbs_to_ten_times_the_base_lr():
    """mmdet3d's cyclic recipe in mmengine form (real: XueSongTap): CosineAnnealingLR up to
    eta_min = 10 × lr over 32 of 80 epochs, then down; its momentum schedulers are not lr."""
    run = fresh(REAL_SET2 / "XueSongTap__mmdetection3d__20231003_125657")
    s = schedule(run)
    assert s.config_peak == pytest.approx(1e-2) and s.ramp_end_step == pytest.approx(32 * 1238)
    assert s.warmup_iters is None and s.continuous and not s.by_epoch  # convert_to_iter_based
    assert rule("warmup", run) == [] and rule("lr-drop", run) == []


def test_a_bevdetr_log_that_declares_its_recipe_is_judged_against_it():
    """bevdetr writes `bevdetr_recipe = dict(lr, total_batch, optimizer, healthy_lr_range)` into
    its Config: dump; the declared band replaces the measured constant."""
    config = dict(
        _read(RUNS / "lr-3e-3").meta["config"],
        bevdetr_recipe=dict(lr=1.5e-3, total_batch=8, optimizer="AdamW", healthy_lr_range=[1e-3, 1.8e-3]),
    )
    (f,) = rule("lr-batch", fresh(RUNS / "lr-3e-3", config=config))
    assert f.evidence["reference_lr"] == [1e-3, 1.8e-3] and f.evidence["ratio"] == pytest.approx(3e-3 / 1.8e-3)
    assert "declares" in f.message and f.severity == "warning"  # above the band, and mAP stayed 0
    inside = dict(config, bevdetr_recipe=dict(config["bevdetr_recipe"], healthy_lr_range=[1e-3, 4e-3]))
    assert rule("lr-batch", fresh(RUNS / "lr-3e-3", config=inside)) == []
