"""`bevlog compare` as a reviewer reads it: the verdict names the likely cause the table
shows, iterations across batch sizes warn, totals of different loss terms say so, smoothing
is noted only where applied, and a run has one name however it is passed."""

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

from bevlog.cli import cli

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fixtures" / "runs" / "seeds"
FIX = REPO / "fixtures" / "compare"
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR = REAL_SET1 / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


def compare(*args):
    """The table output at full width (`--wide`: sentences are not folded to the terminal)."""
    result = CliRunner().invoke(cli, ["compare", *map(str, args), "--wide"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def compare_json(*args):
    return json.loads(compare(*args, "--format", "json"))["comparisons"]


def test_same_lr_at_2_5x_the_batch_is_named_as_the_cause():
    """Seed 0 of batch 20 against seed 0 of batch 8, both lr 1e-3: per epoch batch 20 is behind."""
    (loss,) = compare_json(SEEDS / "base-s0", SEEDS / "batch-20-s0", "--no-groups")
    rows = {r["run"]: r for r in loss["runs"]}
    assert (rows["base-s0"]["lr"], rows["batch-20-s0"]["lr"]) == (1e-3, 1e-3)
    assert (rows["base-s0"]["iters_per_epoch"], rows["batch-20-s0"]["iters_per_epoch"]) == (100, 40)
    (verdict,) = loss["verdicts"]
    assert verdict.startswith("batch-20-s0 is higher than base-s0")
    assert "likely cause: same lr at 2.5× the batch = 2.5× fewer optimizer steps per epoch (40 vs 100)" in verdict


def test_scaled_lr_and_other_settings_are_named():
    (loss,) = compare_json(SEEDS / "base-s0", SEEDS / "batch-20-lr-2.5e-3-s0", "--no-groups")
    assert "lr scaled with the batch (2.5× both: the linear rule, same lr per sample)" in loss["verdicts"][0]
    # 2 decoder layers log fewer aux terms: their totals are no verdict, the final layer's term is
    (total,) = compare_json(SEEDS / "base-s0", SEEDS / "layers-2-s0", "--no-groups")
    assert "the totals sum different loss terms" in total["verdicts"][0]
    (layers,) = compare_json(SEEDS / "base-s0", SEEDS / "layers-2-s0", "--no-groups", "-m", "loss_cls")
    verdict = layers["verdicts"][0]
    # one run each: the one setting that differs is named, without claiming it beat seed noise
    assert "the only setting that differs: decoder layers 2 vs 3 (one run each" in verdict
    assert "num_layers" not in verdict  # the config key behind the fact is not named twice
    (seed,) = compare_json(SEEDS / "base-s0", SEEDS / "base-s1", "--no-groups")
    assert "cause" not in seed["verdicts"][0] and "settings" not in seed["verdicts"][0]


def test_align_iters_across_batch_sizes_warns():
    out = compare(FIX / "b8", FIX / "b20", "--align", "iters")
    assert (
        "warning: --align iters compares runs of different total batch (b8 8, b20 20): an iteration "
        "of b20 is 2.5× the samples of one of b8"
    ) in out
    assert "each iteration of b20 sees 2.5× the samples" in out
    for align in ("epochs", "samples"):
        assert "--align iters compares" not in compare(FIX / "b8", FIX / "b20", "--align", align)
    out = compare(FIX / "b8", FIX / "nobatch", "--align", "iters")
    assert "the total batch of nobatch is unknown" in out


def test_total_losses_of_different_terms_say_so():
    (loss, cls) = compare_json(DETR3D, STREAMPETR, "--align", "samples", "-m", "loss", "-m", "loss_cls")
    (note,) = [n for n in loss["notes"] if "different terms" in n]
    # DETR3D logs 12 terms (loss_cls, loss_bbox and d0–d4 of each), StreamPETR 29 (per frame, dn, 2D)
    detr3d_terms = set(
        re.findall(r"(\b[\w.]*loss[\w.]*): ", DETR3D.read_text().split("Epoch [1][50/")[1].split("\n")[0])
    ) - {"loss"}
    assert len(detr3d_terms) == 12 and "PrymceQ__3DDetection_DETR3D 12" in note
    assert "levels are no verdict" in loss["verdicts"][0]
    assert "likely cause" not in loss["verdicts"][0]
    assert not any("different terms" in n for n in cls["notes"])  # one term: comparable
    (same,) = compare_json(FIX / "b8", FIX / "b20")
    assert not any("different terms" in n for n in same["notes"])


def test_smoothing_is_noted_only_on_smoothed_values():
    out = compare(FIX / "b8", FIX / "b20", "-m", "loss", "-m", "bbox_mAP")
    assert "loss by epoch (lower is better; final/best/@ values smoothed with EMA 0.6)" in out
    assert "bbox_mAP by epoch (higher is better; values as logged, not smoothed)" in out
    loss, bbox = compare_json(FIX / "b8", FIX / "b20", "-m", "loss", "-m", "bbox_mAP")
    assert loss["smoothed"] is True and bbox["smoothed"] is False
    assert compare_json(FIX / "b8", FIX / "b20", "--smooth", "0")[0]["smoothed"] is False


@pytest.mark.parametrize("form", ["dir", "dir/", "file", "glob", "absolute", "relative-from-inside"])
def test_a_run_has_one_name_however_it_is_passed(form, monkeypatch):
    log = SEEDS / "base-s0" / "20261203_144446.log.gz"
    arg = {
        "dir": SEEDS / "base-s0",
        "dir/": f"{SEEDS / 'base-s0'}/",
        "file": log,
        "glob": SEEDS / "base-s0" / "*.log*",
        "absolute": (SEEDS / "base-s0").resolve(),
        "relative-from-inside": ".",
    }[form]
    if form == "relative-from-inside":
        monkeypatch.chdir(SEEDS / "base-s0")
    else:
        arg = os.path.relpath(arg) if form not in ("absolute", "dir/") else arg
    (loss,) = compare_json(arg, FIX / "b8")
    assert [r["run"] for r in loss["runs"]] == ["base-s0", "b8"]
    assert loss["verdicts"][0].startswith("b8 ")


def test_a_shorter_third_run_does_not_cut_a_pair_short():
    """Two 30-epoch runs and a 12-epoch one: the first pair is judged at epoch 30, the table's
    common checkpoints stop at 12 (where all three are)."""
    long_a, long_b = SEEDS / "batch-20-lr-1.6e-3-steps-s0", SEEDS / "batch-20-lr-1.6e-3-steps-s1"
    (loss,) = compare_json(long_a, long_b, SEEDS / "base-s0", "--no-groups")
    assert loss["checkpoints"][-1] == 12.0
    assert "(ep30: " in loss["verdicts"][0] and "(ep12: " in loss["verdicts"][1]
