"""What the report shows beyond the curves: the settings that differ, the compare table and
verdict, seed groups as mean ± sd bands, grad_clip's max_norm, the chance line of mAOE,
readable log ticks, titled PNGs, and an index for many runs — on real logs."""

import base64
import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

import parsers
from bevlog.cli import cli
from bevlog.groups import find_groups
from bevlog.report import MANY_RUNS, build_report, prepare
from bevlog.report.evals import MAOE_CHANCE, chance_level
from bevlog.report.png import titled

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fixtures" / "runs" / "seeds"
FIX = REPO / "fixtures" / "compare"
DETR3D = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"


def payload(html):
    m = re.search(r'<script type="application/json" id="bevlog-data">(.*?)</script>', html, re.S)
    return {p["id"]: p["figure"] for p in json.loads(m.group(1))["panels"]}


def decode(spec):
    if isinstance(spec, dict):
        return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f8")
    return np.asarray(spec, dtype=float)


def section(html, sid):
    return re.search(rf'<section id="{sid}">.*?</section>', html, re.S).group(0)


@pytest.fixture(scope="module")
def seeded():
    runs, problems = parsers.read_paths(
        [str(SEEDS / f"base-s{k}") for k in range(5)] + [str(SEEDS / f"batch-20-s{k}") for k in range(3)]
    )
    assert not problems
    return runs


@pytest.fixture(scope="module")
def seeded_html(seeded):
    groups = find_groups(seeded, [r.name for r in seeded])
    return build_report(seeded, groups=groups)


def test_settings_and_comparison_come_before_the_curves(seeded_html):
    html = seeded_html
    order = [
        html.index(f'<section id="{sid}">')
        for sid in ("section-runs", "section-settings", "section-compare", "section-loss")
    ]
    assert order == sorted(order)
    settings = section(html, "section-settings")
    # one column per group; the batch differs, the seed (which makes the groups) is not listed
    assert "<th>base-s*</th><th>batch-20-s*</th>" in settings
    assert re.search(r"batch \(total\)</td><td><span[^>]*>8</span></td><td><span[^>]*>20</span>", settings)
    assert "bevdetr.seed" not in settings
    compare = section(html, "section-compare")
    assert "loss by epoch" in compare and "bevdetr/mAP by epoch" in compare
    assert "values as logged, not smoothed" in compare  # the mAP table: evaluations are not smoothed
    assert "batch-20-s* (n=3)" in compare and "paired by seed over 3 seeds" in compare
    assert "2.5× fewer optimizer steps per epoch (40 vs 100)" in compare


def test_groups_are_drawn_as_mean_and_sd_bands(seeded, seeded_html):
    panels = payload(seeded_html)
    loss = panels["panel-loss"]["data"]
    mean = next(t for t in loss if t["name"] == "base-s* mean ± sd (n=5)")
    lower = next(t for t in loss if t["name"] == "base-s* mean ± sd (n=5) lower")
    assert lower["fill"] == "tonexty"
    # the mean of the five EMA curves (pandas' ewm, as TensorBoard smooths), on base-s0's x
    base = [r for r in seeded if r.name.startswith("base-s")]
    xs = [r.train["epoch_f"].to_numpy(dtype=float) for r in base]
    ys = [pd.Series(r.train["loss"].to_numpy(dtype=float)).ewm(alpha=0.4).mean().to_numpy() for r in base]
    x = decode(mean["x"])
    stack = np.array([np.interp(x, xi, yi) for xi, yi in zip(xs, ys)])
    np.testing.assert_allclose(decode(mean["y"]), stack.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(decode(lower["y"]), stack.mean(axis=0) - stack.std(axis=0, ddof=1), rtol=1e-9)
    # members thin under the band, one colour per group
    members = [t for t in loss if t.get("legendgroup") == "base-s*" and t.get("opacity") == 0.45]
    assert len(members) == 5 and {t["line"]["color"] for t in members} == {mean["line"]["color"]}
    evals = panels["panel-evals"]["data"]
    map_mean = next(t for t in evals if t["name"] == "batch-20-s* mean ± sd (n=3)" and t["xaxis"] == "x")
    assert list(decode(map_mean["x"])) == [4.0, 8.0, 12.0]
    finals = [
        float(r.evals.loc[r.evals["metric"] == "bevdetr/mAP", "value"].iloc[-1])
        for r in seeded
        if r.name.startswith("batch-20")
    ]
    assert decode(map_mean["y"])[-1] == pytest.approx(np.mean(finals))


def test_grad_clip_line_and_readable_log_ticks():
    html = build_report([parsers.read(FIX / "b8"), parsers.read(FIX / "b20")])
    assert "grad_clip=dict(max_norm=35" in (FIX / "b8" / "20240101_000000.log").read_text()
    panels = payload(html)
    grad = panels["panel-grad"]
    (clip,) = [t for t in grad["data"] if t["name"].startswith("grad_clip max_norm")]
    assert clip["name"] == "grad_clip max_norm 35" and clip["y"] == [35.0, 35.0]
    assert clip["line"]["dash"] == "dash"
    for pid in ("panel-lr", "panel-grad"):
        axis = panels[pid]["layout"]["yaxis"]
        assert axis["type"] == "log" and axis["tickmode"] == "array"
        for value, label in zip(axis["tickvals"], axis["ticktext"]):
            assert float(label) == pytest.approx(value)  # '2e-4', '50': the number itself
            assert "<sup>" not in label and len(label) <= 5
    assert "2e-4" in panels["panel-lr"]["layout"]["yaxis"]["ticktext"]  # the lr of both runs


def angle_diff(x, y, period):
    """nuScenes devkit's yaw difference (nuscenes.eval.common.utils.angle_diff), vectorised."""
    diff = (x - y + period / 2) % period - period / 2
    return np.where(diff > np.pi, diff - 2 * np.pi, diff)


def test_chance_level_of_maoe_is_what_a_random_yaw_scores():
    rng = np.random.default_rng(0)
    gt, pred = rng.uniform(-np.pi, np.pi, (2, 400_000))
    full = np.abs(angle_diff(gt, pred, 2 * np.pi)).mean()
    barrier = np.abs(angle_diff(gt, pred, np.pi)).mean()
    # the nine classes with an orientation (traffic cone has none), barrier's period π
    assert MAOE_CHANCE == pytest.approx((8 * full + barrier) / 9, abs=0.01)
    assert chance_level("pts_bbox_NuScenes/barrier_orient_err")[0] == pytest.approx(barrier, abs=0.01)
    assert chance_level("pts_bbox_NuScenes/car_orient_err")[0] == pytest.approx(full, abs=0.01)
    assert chance_level("pts_bbox_NuScenes/traffic_cone_orient_err") is None
    assert chance_level("pts_bbox_NuScenes/mAP") is None
    html = build_report([parsers.read(DETR3D)])
    evals = payload(html)["panel-evals"]
    titles = [a["text"] for a in evals["layout"]["annotations"]]
    k = titles.index("<b>pts_bbox_NuScenes/mAOE</b>")
    axis = "y" if k == 0 else f"y{k + 1}"
    (line,) = [t for t in evals["data"] if t["name"].startswith("chance: random yaw")]
    assert line["yaxis"] == axis and line["y"] == [MAOE_CHANCE, MAOE_CHANCE]
    assert "random yaw" in section(html, "section-evals")


def test_png_figures_carry_their_title():
    _, panels = prepare([parsers.read(FIX / "b8")])
    loss = next(p for p in panels if p["id"] == "panel-loss")
    fig = titled(loss["figure"], loss["title"])
    assert fig["layout"]["title"]["text"] == "<b>Total loss</b>"
    assert fig["layout"]["height"] == loss["figure"]["layout"]["height"] + 40
    assert "title" not in loss["figure"]["layout"]  # the page's figure is left as it was


@pytest.mark.slow
def test_png_images_are_written_with_the_title_band(tmp_path):
    pytest.importorskip("kaleido")
    from bevlog.report.png import find_browser

    if find_browser() is None:
        pytest.skip("no Chromium installed")
    out = tmp_path / "png"
    result = CliRunner().invoke(
        cli,
        ["report", str(FIX / "b8"), "-o", str(tmp_path / "r.html"), "--png", str(out), "--no-findings"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    _, panels = prepare([parsers.read(FIX / "b8")])
    for p in panels:
        if p["figure"] is None:
            continue
        data = (out / (p["id"].removeprefix("panel-") + ".png")).read_bytes()
        width, height = struct.unpack(">II", data[16:24])  # the PNG's IHDR
        assert (width, height) == (1200, p["figure"]["layout"]["height"] + 40)


def test_many_runs_get_an_index_and_a_section_each():
    runs, _ = parsers.read_paths([str(SEEDS / n) for n in sorted(p.name for p in SEEDS.iterdir())[:12]])
    assert len(runs) == 12 > MANY_RUNS
    html = build_report(runs, groups=find_groups(runs, [r.name for r in runs]), findings=[])
    assert html.count("* plotly.js v") == 1
    table = section(html, "section-runs")
    for k, run in enumerate(runs):
        assert f'<a href="#run-{k}">{run.name}</a>' in table
        own = section(html, f"run-{k}")
        assert f"<h2>{run.name}</h2>" in own and f'id="run-table-{k}"' in own
    few = build_report(runs[:3])
    assert 'href="#run-' not in few and 'id="run-0"' not in few
