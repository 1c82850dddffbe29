"""bevlog.compare: statistics and verdicts, on fixtures with known batches and on real logs."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from repo_paths import REAL_SET1

import parsers
from bevlog.align import AlignError
from bevlog.compare import MetricError, compare_runs, resolve_metric, run_labels
from bevlog.comparestats import common_checkpoints, sparkline

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "compare"
REAL = REAL_SET1
DETR3D = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR = REAL / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


@pytest.fixture(scope="module")
def fixture_runs():
    return [parsers.read(str(FIX / "b8")), parsers.read(str(FIX / "b20"))]


@pytest.fixture(scope="module")
def real_runs():
    return [parsers.read(str(DETR3D)), parsers.read(str(STREAMPETR))]


def ewm_last_and_min(values, weight=0.6):
    s = pd.Series(values).dropna()
    s = s[np.isfinite(s)]
    smoothed = s.ewm(alpha=1 - weight, adjust=True).mean()
    return smoothed.iloc[-1], smoothed.min(), smoothed


def test_stats_row_on_known_batches(fixture_runs):
    comp = compare_runs(fixture_runs, "loss", "samples")
    stats = comp.stats.set_index("run")
    assert list(stats.index) == ["b8", "b20"]
    assert stats.loc["b8", "batch"] == 8 and stats.loc["b20", "batch"] == 20
    assert stats.loc["b8", "lr"] == pytest.approx(2e-4)
    assert stats.loc["b8", "lr_per_sample"] == pytest.approx(2.5e-5)
    assert stats.loc["b20", "lr_per_sample"] == pytest.approx(1e-5)
    assert stats.loc["b8", "rows"] == 15 and stats.loc["b20", "rows"] == 12
    for run in fixture_runs:
        final, best, _ = ewm_last_and_min(run.train["loss"])
        assert stats.loc[run.name, "final"] == pytest.approx(final)
        assert stats.loc[run.name, "best"] == pytest.approx(best)
    # noise × √(batch × interval): rows of b8 average 8 × 20 samples, rows of b20 20 × 10
    assert stats.loc["b8", "noise_norm"] == pytest.approx(stats.loc["b8", "noise"] * math.sqrt(160))
    assert stats.loc["b20", "noise_norm"] == pytest.approx(stats.loc["b20", "noise"] * math.sqrt(200))
    assert stats.loc["b8", "slope"] < 0  # the real DETR3D lines copied in fall


def test_checkpoints_are_common_aligned_points(fixture_runs):
    by_epoch = compare_runs(fixture_runs, "loss", "epochs")
    # b8 starts at epoch 0.2, b20 at 0.25; both reach 3.0
    assert by_epoch.checkpoints == [1.0, 2.0, 3.0]
    assert [c for c in by_epoch.stats.columns if c.startswith("@")] == ["@ep1", "@ep2", "@ep3"]
    # at epoch 2 each run's value is its smoothed curve there (b8 has a row at 2.0, b20 too)
    for run in fixture_runs:
        x = run.train["epoch_f"].to_numpy()
        _, _, smoothed = ewm_last_and_min(run.train["loss"])
        row = by_epoch.stats.set_index("run").loc[run.name]
        assert row["@ep2"] == pytest.approx(smoothed.to_numpy()[np.isclose(x, 2.0)][0])
    by_samples = compare_runs(fixture_runs, "loss", "samples")
    # both runs end at 2,400 samples (b8: 300 iterations × 8, b20: 120 × 20), off the round
    # grid: the end of the common range is a checkpoint too, and the verdict is read there
    assert by_samples.checkpoints == [500.0, 1000.0, 1500.0, 2000.0, 2400.0]
    assert "@2.4k" in by_samples.stats.columns
    assert "(2.4k: " in by_samples.verdicts[0]
    # evaluation metrics compare at the evaluations both runs have
    evals = compare_runs(fixture_runs, "bbox_mAP", "samples")
    assert evals.checkpoints == [800.0, 1600.0, 2400.0]
    assert evals.higher_is_better
    assert "matches b8 at every common sample count" in evals.verdicts[0]


def test_verdict_names_direction_start_and_smoothness(fixture_runs):
    comp = compare_runs(fixture_runs, "loss", "epochs")
    (verdict,) = comp.verdicts
    assert verdict.startswith("b20 ")
    assert re.search(r"b20 (is (lower|higher) than|matches|ends level with) b8", verdict)
    a, b = comp.stats["noise"]
    ratio = b / a
    # both runs' noise named, b20's first, with their ratio (or "about equal" within 10%)
    assert f"row-to-row noise: b20 {b:.3g} vs b8 {a:.3g} (" in verdict
    if abs(math.log(ratio)) >= math.log(1.1):
        assert f"({ratio:.2g}×)" in verdict
    else:
        assert "(about equal)" in verdict
    # expected from averaging alone: rows of b20 average 20 × 10 = 200 samples, b8's 8 × 20 = 160
    assert f"1.25× the samples per logged row alone would give {1 / math.sqrt(1.25):.2g}×" in verdict


def test_metric_resolution_and_errors(fixture_runs, real_runs):
    detr3d = real_runs[0]
    assert resolve_metric(detr3d, "NDS") == ("evals", "pts_bbox_NuScenes/NDS")
    assert resolve_metric(detr3d, "loss_cls") == ("train", "loss_cls")
    assert resolve_metric(detr3d, "d0.loss_cls") == ("train", "d0.loss_cls")
    assert resolve_metric(detr3d, "nope") is None
    with pytest.raises(MetricError, match="no run has a metric 'nope'"):
        compare_runs(fixture_runs, "nope")
    nobatch = parsers.read(str(FIX / "nobatch"))
    with pytest.raises(AlignError, match="--batch nobatch=N"):
        compare_runs([fixture_runs[0], nobatch], "loss", "samples")


def test_sparklines_share_one_scale(fixture_runs):
    comp = compare_runs(fixture_runs, "loss", "epochs")
    lines = comp.stats["curve"].tolist()
    assert all(set(line) <= set("▁▂▃▄▅▆▇█ ") and line for line in lines)
    # both start high and fall: first block above the last one
    for line in lines:
        assert "▁▂▃▄▅▆▇█".index(line[0]) > "▁▂▃▄▅▆▇█".index(line[-1])
    assert sparkline(comp.curves[0], (1.0, 1.0), (0.0, 0.0)) == ""


def test_real_detr3d_vs_streampetr(real_runs):
    """Different batch (4 vs 16) and runner (epoch vs iter): samples put both on one axis."""
    comp = compare_runs(real_runs, "loss", "samples")
    stats = comp.stats.set_index("run")
    assert stats.loc["PrymceQ__3DDetection_DETR3D", "batch"] == 4
    assert stats.loc["PrymceQ__BEVModel_StreamPETR", "batch"] == 16
    assert stats.loc["PrymceQ__3DDetection_DETR3D", "lr_per_sample"] == pytest.approx(5e-5)
    assert stats.loc["PrymceQ__BEVModel_StreamPETR", "lr_per_sample"] == pytest.approx(2.5e-5)
    # both trained 24 epochs of nuScenes (28130 samples): ~675k samples each
    assert comp.curves[0].x[-1] == 7000 * 4 + 23 * 7033 * 4 and comp.curves[1].x[-1] == 42150 * 16
    # StreamPETR's total loss sums ~30 terms (denoising, encoder, depth): higher everywhere
    assert (
        "PrymceQ__BEVModel_StreamPETR is higher than PrymceQ__3DDetection_DETR3D at every common sample count"
        in comp.verdicts[0]
    )
    for run in real_runs:
        final, best, _ = ewm_last_and_min(run.train["loss"])
        assert stats.loc[run.name, "final"] == pytest.approx(final)
        assert stats.loc[run.name, "best"] == pytest.approx(best)
    # NDS of the last evaluation, read from the log text independently
    nds = compare_runs(real_runs, "NDS", "epochs").stats.set_index("run")
    for run, path in zip(real_runs, (DETR3D, STREAMPETR)):
        last = re.findall(r"pts_bbox_NuScenes/NDS: ([0-9.]+)", path.read_text())[-1]
        assert nds.loc[run.name, "final"] == pytest.approx(float(last))


def test_real_twins_align_onto_one_curve():
    """The .log and .log.json of one DETR3D run: same rows, same values, same aligned curve.

    The json twin never states iters per epoch (7033 in the text); its reader estimates it
    from the logged counters, so fractional epochs may differ by < 0.002 within an epoch.
    """
    text = parsers.read(str(DETR3D))
    twin = parsers.read(str(DETR3D) + ".json")
    assert run_labels([text, twin]) == [DETR3D.name, DETR3D.name + ".json"]
    comp = compare_runs([text, twin], "loss", "epochs")
    a, b = comp.curves
    assert len(a.x) == len(b.x) == 3360
    np.testing.assert_allclose(a.x, b.x, atol=0.002)
    np.testing.assert_allclose(np.floor(a.x - 1e-9), np.floor(b.x - 1e-9))  # same epoch for every row
    np.testing.assert_allclose(a.y, b.y, atol=5e-5 + 1e-12)  # text keeps 4 decimals, json 5
    np.testing.assert_allclose(a.smooth, b.smooth, atol=5e-5)
    stats = comp.stats
    for col in ["final", "best", "noise"] + [c for c in stats.columns if c.startswith("@")]:
        assert stats[col].iloc[1] == pytest.approx(stats[col].iloc[0], rel=2e-3), col
    assert comp.verdicts[0].startswith(f"{DETR3D.name}.json matches {DETR3D.name} at every common epoch")
    assert "(about equal) at the same batch × logging interval" in comp.verdicts[0]
    assert comp.notes == [
        f"note: {DETR3D.name}.json does not log iterations per epoch; fractional epochs "
        f"use an estimate ({twin.meta['iters_per_epoch']})"
    ]
    # wall time: the json twin has no timestamps (summed `time`), and the note says so
    by_time = compare_runs([text, twin], "loss", "time")
    assert any("has no timestamps" in n and n.startswith(f"note: {DETR3D.name}.json") for n in by_time.notes)


def test_common_checkpoints_grid():
    class C:
        def __init__(self, x, source="train"):
            self.x, self.source = np.asarray(x, float), source

    # every whole epoch both reached, then the end of the common range (3.2)
    assert common_checkpoints([C([0.3, 5.7]), C([0.1, 3.2])], "epochs") == [1.0, 2.0, 3.0, 3.2]
    assert common_checkpoints([C([0.3, 3.0]), C([0.1, 3.0])], "epochs") == [1.0, 2.0, 3.0]
    # a round step of at least 1/8 of the common range, and its end
    assert common_checkpoints([C([10, 95000]), C([0, 41000])], "iters") == [10000.0, 20000.0, 30000.0, 40000.0, 41000.0]
    assert common_checkpoints([C([1, 2, 3], "evals"), C([2, 3, 4], "evals")], "epochs") == [2.0, 3.0]
    assert common_checkpoints([C([0, 1]), C([2, 3])], "epochs") == []
