"""`bevlog validate`: a real lr-too-high run (the sweep's small-preset lr 3e-3 log) replicated and
fixed on the tiny bevdetr preset inside a tiny budget; a json verdict for every finding."""

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bevlog.cli import cli
from bevlog.validate import VERDICTS

try:
    import torch  # noqa: F401  (bevdetr trains the replicas)

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="validate trains bevdetr, which needs torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LR_TOO_HIGH = os.path.join(ROOT, "fixtures", "runs", "lr-3e-3")


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1"})


@pytest.mark.slow
@pytest.mark.torch  # validate trains bevdetr
@needs_torch
def test_validate_lr_too_high_end_to_end(tmp_path):
    diagnosed = json.loads(invoke("diagnose", LR_TOO_HIGH, "--format", "json").stdout)["runs"][0]
    res = invoke(
        "validate",
        LR_TOO_HIGH,
        "--budget-minutes",
        "0.1",
        "--preset",
        "tiny",
        "--format",
        "json",
        "--work-dir",
        str(tmp_path / "v"),
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert "proxy of your model" in out["proxy_note"]
    assert out["proxy"]["preset"] == "tiny" and out["proxy"]["settings"]["lr"] == 3e-3
    # the run is judged by the same rules bevlog diagnose applies to it: one verdict each
    assert [(f["rule"], f["severity"]) for f in out["findings"]] == [
        (f["rule"], f["severity"]) for f in diagnosed["findings"]
    ]
    assert out["findings"] and all(f["verdict"] in VERDICTS and f["reason"] for f in out["findings"])
    # the lr finding's machine-readable fix reached the fixed replica
    lr_fix = [a for a in out["fix"]["applied"] if a["param"] == "lr"]
    assert lr_fix and lr_fix[0]["from"] == 3e-3 and out["fix"]["settings"]["lr"] == lr_fix[0]["to"] < 3e-3
    assert out["runs"] == {"as-diagnosed-seed0": "done", "fixed-seed0": "done"}
    for side in ("as_diagnosed", "fixed"):
        assert out[side]["seeds"] == 1 and out[side]["final_loss"] > 0 and out[side]["mAP"] is not None
    logs = sorted(os.listdir(tmp_path / "v" / "fixed-seed0"))
    assert any(name.endswith(".log.json") for name in logs)
    # 0.1 min cut the table's plan to the minimum replica already, so no probe ran (its measurement
    # could only shorten the plan): the speed is measured in the replicas' own logs, and no probe is left
    sp = out["speed"]
    assert sp["measured_by"] == "replicas" and sp["measured_s_per_iter"] > 0
    assert sp["iterations"] == sp["planned_iterations"] == out["proxy"]["iterations"]
    assert not any(n.startswith("speed-probe") for n in os.listdir(tmp_path / "v"))
    # ... and even that minimum costs more than 0.1 min by the table: the output says so
    assert sp["over_budget"] and sp["planned_s"] > sp["budget_left_s"] > 0
    # every finding window begins after the replica ends, so none sets the evaluation interval:
    # a quarter of the run's 8 epochs
    assert out["proxy"]["settings"]["epochs"] == 8 and out["proxy"]["settings"]["eval_interval"] == 2
    # lr and warmup changed together, each alone did not fit 0.1 min: the output says the fix is bundled
    params = {a["param"] for a in out["fix"]["applied"]}
    assert params >= {"lr", "warmup_iters"} and sorted(out["fix"]["bundled"]) == sorted(params)

    # a rerun on the same work dir trains nothing and gives the same verdicts
    text = invoke(
        "validate", LR_TOO_HIGH, "--budget-minutes", "0.1", "--preset", "tiny", "--work-dir", str(tmp_path / "v")
    )
    assert text.exit_code == 0, text.output
    assert "bevdetr is a proxy of your model" in text.stdout
    assert "bundled: " in text.stdout and "speed: measured" in text.stdout and "in the replicas" in text.stdout
    assert "budget: too small even for the shortest replicas" in text.stdout
    for f in out["findings"]:
        assert f"{f['verdict']}" in text.stdout and f["rule"] in text.stdout


def test_validate_bad_input_exits_2(tmp_path):
    bad = tmp_path / "x.log"
    bad.write_bytes(b"\x00\x01 not a log")
    res = invoke("validate", str(bad), "--budget-minutes", "0.2")
    assert res.exit_code == 2 and "x.log" in res.output and "Traceback" not in res.output
    missing = invoke("validate", str(tmp_path / "nope"))
    assert missing.exit_code == 2


def test_help_imports_neither_torch_nor_pandas():
    code = (
        "import sys\nfrom bevlog.cli import cli\n"
        "try:\n    cli(['validate', '--help'], prog_name='bevlog')\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print('HEAVY', sorted(m for m in ('torch', 'pandas', 'bevdetr.train') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out and "--budget-minutes" in out and "--seeds" in out


def _tampered_copy(tmp_path, **values):
    """The lr-3e-3 text log with settings of its `bevdetr = dict(...)` replaced."""
    (log,) = [n for n in os.listdir(LR_TOO_HIGH) if n.endswith(".log")]
    text = open(os.path.join(LR_TOO_HIGH, log)).read()
    for key, value in values.items():
        old = re.search(rf"^ +{key}=[^,\n]*", text, re.M).group(0)
        text = text.replace(old, old.split("=")[0] + "=" + value, 1)
    path = tmp_path / "tampered" / log
    path.parent.mkdir()
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "values,says",
    [
        ({"queries": "2e7", "layers": "64"}, "layers=64 is outside 1..12"),
        ({"queries": "2e7"}, "queries=20000000.0 is not a finite int"),
        ({"queries": "20000000"}, "queries=20000000 is outside 1..300"),
        ({"epochs": "1000000000"}, "epochs=1000000000 is outside 1..1000"),
        ({"batch": "1000000"}, "batch=1000000 is outside 1..64"),
        ({"lr": "1e300"}, "lr=1e+300 is outside"),
        ({"steps": "[6, 'x']"}, "steps=[6, 'x'] holds 'x'"),
        ({"schedule": "'\\x1b[2J'"}, "schedule='\\x1b[2J' is not one of step, cosine"),
    ],
)
def test_validate_bounds_every_setting_it_reads_from_the_log(tmp_path, values, says):
    path = _tampered_copy(tmp_path, **values)
    res = invoke(
        "validate", str(path), "--budget-minutes", "0.2", "--preset", "tiny", "--work-dir", str(tmp_path / "v")
    )
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert str(path) in line and says in line, line
    assert "\x1b" not in res.output
    assert not (tmp_path / "v").exists()  # refused before any training started


@pytest.fixture(scope="module")
def cut_off_run(tmp_path_factory):
    """The lr-3e-3 text log cut off at epoch 6.4 (no json twin), validated on 60-iteration tiny replicas:
    its findings are log-integrity (stopped early), lr-batch (whole run) and lr-drop (at epoch 6.2)."""
    if not HAVE_TORCH:
        pytest.skip("validate trains bevdetr, which needs torch")
    tmp = tmp_path_factory.mktemp("cut")
    (log,) = [n for n in os.listdir(LR_TOO_HIGH) if n.endswith(".log")]
    lines = open(os.path.join(LR_TOO_HIGH, log)).read().splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if "Epoch [7][100/250]" in line)
    (tmp / "run").mkdir()
    (tmp / "run" / log).write_text("".join(lines[: end + 1]))
    res = invoke(
        "validate",
        str(tmp / "run"),
        "--budget-minutes",
        "0.1",
        "--preset",
        "tiny",
        "--seeds",
        "1",
        "--format",
        "json",
        "--work-dir",
        str(tmp / "v"),
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {f["rule"] for f in out["findings"]} >= {"log-integrity", "lr-batch", "lr-drop"}
    return out


def _verdict(out, rule):
    (f,) = [f for f in out["findings"] if f["rule"] == rule]
    return f["verdict"], f["reason"]


@pytest.mark.slow  # trains (cut_off_run)
def test_validate_is_inconclusive_about_the_log_file_itself(cut_off_run):
    verdict, reason = _verdict(cut_off_run, "log-integrity")
    assert verdict == "inconclusive" and "about the log file itself" in reason


@pytest.mark.slow  # trains (cut_off_run)
def test_validate_is_inconclusive_when_the_replica_is_shorter_than_the_onset(cut_off_run):
    out = cut_off_run
    seen = out["proxy"]["iterations"] * out["proxy"]["settings"]["batch"]
    verdict, reason = _verdict(out, "lr-drop")
    assert seen < 1500 * 8  # the lr drop came after ~1,550 iterations at batch 8
    assert verdict == "inconclusive" and f"trains on {seen:,} samples" in reason


@pytest.mark.slow  # trains (cut_off_run)
def test_validate_is_inconclusive_when_both_arms_stay_at_chance(cut_off_run):
    out = cut_off_run
    # 60 iterations of the tiny preset detect nothing on either side (measured, not assumed) ...
    assert max(out["as_diagnosed"]["mAP"], out["fixed"]["mAP"]) < 0.02
    # ... so the whole-run lr finding cannot be confirmed or refuted, though a lower lr was trained
    assert any(a["param"] == "lr" for a in out["fix"]["applied"]) and out["fixed"]["seeds"] == 1
    verdict, reason = _verdict(out, "lr-batch")
    assert verdict == "inconclusive" and "both arms stay at chance" in reason


def test_evaluations_come_twice_inside_the_shortest_finding_window():
    from bevlog.validate import eval_interval

    o = {"train_samples": 800, "batch": 8, "epochs": 12}  # 100 iterations an epoch
    assert eval_interval(o, [], 1.0) == 3  # no window: a quarter of the run
    assert eval_interval(o, [4000.0], 0.3) == 3  # 1,200 replica iterations: the quarter wins
    assert eval_interval(o, [1000.0], 0.5) == 2  # 500 replica iterations: every 2 epochs
    assert eval_interval(o, [300.0], 0.5) == 1  # shorter than two epochs: every epoch


def _lr_too_high():
    import parsers

    return parsers.read(LR_TOO_HIGH)


def test_only_windows_the_replica_reaches_set_the_evaluation_interval():
    """lr-3e-3 at batch 8 on a 56-iteration tiny replica (448 samples): a window that begins at
    iteration 250 (2,000 samples) is judged inconclusive anyway, so it does not make the replica
    evaluate every epoch; one that begins at iteration 20 (160 samples) does."""
    from bevlog.validate import proxy_of

    run = _lr_too_high()
    late = proxy_of(run, 6, 1, "tiny", windows=[(250.0, 300.0)])
    assert late.iterations == 56 and late.overrides["eval_interval"] == 2  # a quarter of 8 epochs
    early = proxy_of(run, 6, 1, "tiny", windows=[(20.0, 300.0)])
    assert early.iterations == 56 and early.overrides["eval_interval"] == 1


def test_the_plan_says_when_the_budget_is_below_the_shortest_replica():
    from bevlog.validate import MIN_ITERS, Costs, proxy_of

    run = _lr_too_high()
    table = proxy_of(run, 6, 1, "tiny")  # 6 s: less than two replica processes cost to start, train, evaluate
    assert table.fits <= MIN_ITERS["tiny"] and table.iterations == 56 and table.planned_s > 6
    roomy = proxy_of(run, 120, 1, "tiny")
    assert roomy.fits > MIN_ITERS["tiny"] and roomy.planned_s <= 120
    # measured costs twice the table's: fewer iterations fit the same budget
    slow = Costs(0.09, 0.006, 8.0)
    assert proxy_of(run, 120, 1, "tiny", costs=slow).iterations < roomy.iterations
    # a measurement is taken only where it is slower than the table: it never lengthens a plan
    fast = Costs(0.001, 0.0001, 0.5)
    assert roomy.table.slower(fast) == roomy.table and roomy.table.slower(slow) == slow


@pytest.mark.slow
@pytest.mark.torch  # the probe trains bevdetr
@needs_torch
def test_a_probe_measures_start_up_iterations_and_evaluation_and_only_shortens_the_plan(tmp_path):
    """With 1 min the table's plan is above the minimum replica: a probe measures this machine (two
    processes of 30 iterations, an evaluation between their two epochs), is removed, and the
    replicas are sized again at the slower of table and measurement."""
    import io
    import time

    from bevlog.diagnose import diagnose_run
    from bevlog.validate import MIN_ITERS, plan

    run = _lr_too_high()
    stream = io.StringIO()
    pl = plan(run, diagnose_run(run), 60, 1, "tiny", str(tmp_path), time.time(), stream, False)
    assert "measuring this machine's speed" in stream.getvalue().splitlines()[0]
    m = pl.measured
    assert m is not None and m.per_iter > 0 and m.eval_per_scene > 0 and m.start_s > 0
    assert os.listdir(tmp_path) == []  # the probe is gone
    assert pl.proxy.costs == pl.proxy.table.slower(m)  # sized at the slower of table and measurement
    epochs = pl.proxy.overrides["epochs"]  # the minimum, cut to whole epochs, up to the table's plan
    assert MIN_ITERS["tiny"] // epochs * epochs <= pl.proxy.iterations <= pl.planned
    assert pl.budget_left_s < 60


def test_validate_maps_lr_by_the_ratio_to_the_recipe():
    from bevdetr.recipe import HEALTHY_LR
    from bevlog.validate import map_lr

    lr, note = map_lr(6e-4, 8, 8)  # 3x the DETR-family recipe (2e-4 at batch 8)
    assert lr == pytest.approx(3 * HEALTHY_LR) and "3x the 2.0e-04 of the DETR-family recipe" in note
    lr, _ = map_lr(8e-4, 32, 8)  # at batch 32 the recipe is 8e-4: the run is on it
    assert lr == pytest.approx(HEALTHY_LR)
    # the run's own config intent wins over the published recipe (what lr-batch reads too):
    # total_batch_size = 48 with lr 6e-4, run at 6 -> its own lr at 6 is 7.5e-5; 7.5e-5 is on it
    meta = {"config": {"total_batch_size": 48}, "total_batch": 6, "lr": 6e-4, "optimizer": "AdamW"}
    lr, note = map_lr(7.5e-5, 6, 8, meta)
    assert lr == pytest.approx(HEALTHY_LR) and "total_batch_size = 48" in note


def test_a_bevdetr_log_is_regenerated_with_its_own_schedule_and_width():
    """The seeded sweep's falls-then-rises run (mmcv cyclic lr, peak 5x) and a d=128 run: the replica
    keeps the cyclic policy with its peak and climb, and the width (it used to drop both)."""
    import parsers
    from bevlog.validate import proxy_of

    seeds = os.path.join(ROOT, "fixtures", "runs", "seeds")
    o = proxy_of(parsers.read(os.path.join(seeds, "cyclic-5x-s0")), 480, 3, "tiny").overrides
    assert (o["schedule"], o["target_ratio"], o["step_ratio_up"], o["epochs"]) == ("cyclic", 5.0, 0.75, 24)
    o = proxy_of(parsers.read(os.path.join(seeds, "wide-s0")), 480, 3, "tiny").overrides
    assert (o["d_model"], o["dim_ff"]) == (128, 256)
