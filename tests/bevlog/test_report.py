"""`bevlog report` without a browser: the file is self-contained, the data is right, the
curves are thinned only for display, findings land on the curves, the CLI behaves."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1

import parsers
from bevlog.cli import cli
from bevlog.findings import Finding, Fix
from bevlog.report import build_report, prepare
from bevlog.report.downsample import minmax_indices
from bevlog.smooth import ema

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "compare"
REAL = REAL_SET1
DETR3D = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
PANELS = ["panel-loss", "panel-components", "panel-layers", "panel-lr", "panel-grad", "panel-evals"]


@pytest.fixture(scope="module")
def fixture_runs():
    return [parsers.read(str(FIX / "b8")), parsers.read(str(FIX / "b20"))]


def payload(html):
    m = re.search(r'<script type="application/json" id="bevlog-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def decode(spec):
    if isinstance(spec, dict):
        arr = np.frombuffer(
            base64.b64decode(spec["bdata"]), dtype={"f8": "<f8", "f4": "<f4", "i4": "<i4"}[spec["dtype"]]
        )
        if "shape" in spec:
            arr = arr.reshape([int(n) for n in spec["shape"].split(",")])
        return arr
    return np.asarray(spec, dtype=float)


def outside_bundle(html):
    """The page without the embedded plotly.js (which mentions URLs in its own code)."""
    start = html.index("<script>/**\n* plotly.js")
    return html[:start] + html[html.index("</script>", start) :]


def test_self_contained_offline_page(fixture_runs):
    html = build_report(fixture_runs, align="samples")
    assert html.count("* plotly.js v") == 1  # the bundle, once
    rest = outside_bundle(html)
    for pattern in (r"<script[^>]*\bsrc=", r"<link\b", r"<img\b", r"<iframe\b", r"@import", r"url\(", r"https?://"):
        assert not re.search(pattern, rest, re.I), pattern
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src &#x27;none&#x27;" in csp and "connect-src &#x27;none&#x27;" in csp
    assert "unsafe-inline&#x27;" not in csp.split("style-src")[0]  # scripts by hash only
    assert [p["id"] for p in payload(html)["panels"]] == PANELS
    for pid in PANELS:
        assert f'<div class="plot" id="{pid}">' in html


def test_panels_share_alignment_and_run_colours(fixture_runs):
    html = build_report(fixture_runs, align="samples")
    panels = {p["id"]: p["figure"] for p in payload(html)["panels"]}
    swatches = dict(re.findall(r'background:(#[0-9a-f]{6})"></span>(b8|b20)<', html))
    colours = {run: colour for colour, run in swatches.items()}
    assert len(set(colours.values())) == 2
    for pid, fig in panels.items():
        if pid == "panel-layers":
            continue
        for trace in fig["data"]:
            run = trace.get("legendgroup")
            if run in colours:
                assert trace["line"]["color"] == colours[run], (pid, run)
        ranges = [v["range"] for k, v in fig["layout"].items() if k.startswith("xaxis") and "range" in v]
        assert ranges and all(r == ranges[0] for r in ranges)
        assert ranges[0][0] < 200 and ranges[0][1] > 2400  # both runs' samples, 160 … 2400
    loss = panels["panel-loss"]["data"]
    smooth_b8 = next(t for t in loss if t["legendgroup"] == "b8" and "hoverinfo" not in t)
    raw_b8 = next(t for t in loss if t["legendgroup"] == "b8" and t.get("hoverinfo") == "skip")
    np.testing.assert_array_equal(decode(raw_b8["x"]), np.arange(1, 16) * 160.0)
    np.testing.assert_allclose(decode(smooth_b8["y"]), ema(fixture_runs[0].train["loss"], 0.6))
    assert panels["panel-lr"]["layout"]["yaxis"]["type"] == "log"
    assert panels["panel-grad"]["layout"]["yaxis"]["type"] == "log"
    # decoder layers: one heatmap per run and term, layers 0…5 (d0…d4 and the final one)
    heat = [t for t in panels["panel-layers"]["data"] if t["type"] == "heatmap"]
    assert len(heat) == 4 and decode(heat[0]["z"]).shape[0] == 6
    evals = panels["panel-evals"]["data"]
    assert {t["legendgroup"] for t in evals} == {"b8", "b20"}
    np.testing.assert_array_equal(decode(evals[0]["x"]), [800, 1600, 2400])


def test_downsampled_for_display_never_for_statistics():
    run = parsers.read(str(DETR3D))
    ctx, panels = prepare([run], max_points=400)
    fig = next(p["figure"] for p in panels if p["id"] == "panel-loss")
    raw = next(t for t in fig["data"] if t.get("hoverinfo") == "skip")
    x, y = decode(raw["x"]), decode(raw["y"])
    loss = run.train["loss"].to_numpy()
    assert len(loss) == 3360 and len(y) <= 402
    assert y.max() == loss.max() and y.min() == loss.min()  # spikes survive thinning
    assert x[0] == run.train["epoch_f"].iloc[0] and x[-1] == run.train["epoch_f"].iloc[-1]
    html = build_report([run], max_points=400)
    final = ema(loss, 0.6)[-1]
    row = re.search(r'<table id="run-table">.*?</table>', html, re.S).group(0)
    assert f">{final:.4g}<" in row  # the table's final loss uses all 3360 rows


def test_minmax_indices_keep_extremes_and_ends():
    y = np.sin(np.linspace(0, 30, 50_000))
    y[12_345] = 50.0
    y[40_000] = np.nan
    idx = minmax_indices(y, 1000)
    assert len(idx) <= 1002 and idx[0] == 0 and idx[-1] == len(y) - 1
    assert 12_345 in idx and (np.diff(idx) > 0).all()
    assert len(minmax_indices(y[:500], 1000)) == 500


def test_findings_are_drawn_and_listed(fixture_runs):
    findings = [
        Finding(
            "b8",
            "divergence",
            "error",
            100,
            200,
            1.0,
            2.0,
            "loss rose 30% above its minimum",
            {"rise": 0.3},
            Fix("lr 2.0e-04 → 1.0e-04", [{"param": "lr", "from": 2e-4, "to": 1e-4}]),
        ),
        Finding("b20", "lr-drop", "info", 80, 80, 2.0, 2.0, "loss −5% at the lr step: the schedule did it"),
        Finding("b20", "grad-spike", "warning", 60, 70, 1.5, 1.75, "grad_norm ×6 over its median"),
        Finding("b8", "lr-batch", "warning", None, None, None, None, "lr per sample 2.5e-05 is high"),
    ]
    html = build_report(fixture_runs, align="epochs", findings=findings)
    panels = {p["id"]: p["figure"] for p in payload(html)["panels"]}
    loss_shapes = panels["panel-loss"]["layout"]["shapes"]
    assert {"type": "rect", "x0": 1.0, "x1": 2.0}.items() <= loss_shapes[0].items()
    dotted = [s for s in panels["panel-lr"]["layout"]["shapes"] if s["line"].get("dash") == "dot"]
    assert len(dotted) == 1 and dotted[0]["x0"] == 2.0
    grad_shapes = panels["panel-grad"]["layout"].get("shapes", [])
    assert any(s["type"] == "rect" and s["x0"] == 1.5 and s["x1"] == 1.75 for s in grad_shapes)
    marks = [t for t in panels["panel-loss"]["data"] if t.get("legendgroup") == "findings"]
    assert sorted(t["name"] for t in marks) == ["findings: error", "findings: info", "findings: warning"]
    error = next(t for t in marks if t["name"] == "findings: error")
    assert error["x"] == [1.0] and "loss rose 30%" in error["hovertext"][0]
    table = re.search(r'<table id="findings-table">.*?</table>', html, re.S).group(0)
    assert table.index("divergence") < table.index("grad-spike") < table.index("lr-drop")  # worst first
    assert "whole run" in table and "lr 2.0e-04 → 1.0e-04" in table
    # the same findings on the samples axis convert their steps
    on_samples = payload(build_report(fixture_runs, align="samples", findings=findings))
    shapes = next(p for p in on_samples["panels"] if p["id"] == "panel-loss")["figure"]["layout"]["shapes"]
    assert (shapes[0]["x0"], shapes[0]["x1"]) == (800.0, 1600.0)


def test_cli_writes_report_and_says_so(tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        cli,
        ["report", str(FIX / "b8"), str(FIX / "b20"), "-o", str(out), "--align", "samples", "--smooth", "0.8"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    html = out.read_text()
    assert "x = samples seen · EMA 0.8" in html
    no_findings = CliRunner().invoke(cli, ["report", str(FIX / "b8"), "-o", str(out), "--no-findings"])
    assert no_findings.exit_code == 0 and 'id="section-findings"' not in out.read_text()


def test_cli_unknown_batch_is_exit_2(tmp_path):
    result = CliRunner().invoke(
        cli, ["report", str(FIX / "nobatch"), "-o", str(tmp_path / "r.html"), "--align", "samples"]
    )
    assert result.exit_code == 2
    assert "--batch nobatch=N" in result.output
    assert not (tmp_path / "r.html").exists()
    fixed = CliRunner().invoke(
        cli,
        ["report", str(FIX / "nobatch"), "-o", str(tmp_path / "r.html"), "--align", "samples", "--batch", "nobatch=20"],
    )
    assert fixed.exit_code == 0, fixed.output
    assert "20 (--batch)" in (tmp_path / "r.html").read_text()
    unwritable = CliRunner().invoke(cli, ["report", str(FIX / "b8"), "-o", str(tmp_path / "no" / "r.html")])
    assert unwritable.exit_code == 2 and "cannot write the report" in unwritable.output


def test_png_without_chromium_says_so(tmp_path, monkeypatch):
    pytest.importorskip("kaleido")
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on this PATH
    result = CliRunner().invoke(
        cli, ["report", str(FIX / "b8"), "-o", str(tmp_path / "r.html"), "--png", str(tmp_path / "png")]
    )
    assert result.exit_code == 2
    assert "needs Chromium or Chrome installed" in result.output
    assert not (tmp_path / "png").exists()


@pytest.mark.slow
def test_png_with_chromium(tmp_path):
    pytest.importorskip("kaleido")
    from bevlog.report.png import find_browser

    if find_browser() is None:
        pytest.skip("no Chromium installed")
    result = CliRunner().invoke(
        cli,
        ["report", str(FIX / "b8"), str(FIX / "b20"), "-o", str(tmp_path / "r.html"), "--png", str(tmp_path / "png")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert files == sorted(pid.removeprefix("panel-") + ".png" for pid in PANELS)
    for name in files:
        data = (tmp_path / "png" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
