"""The report of two real runs (DETR3D vs StreamPETR) in headless Chromium: it draws every
panel, logs no console error and makes no network request; a screenshot is kept in
test-artifacts/report_detr3d_vs_streampetr.png."""

from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("selenium")
from repo_paths import REAL_SET1  # noqa: E402
from report_browser_util import (
    PANEL_STATE,
    chrome,
    console_errors,
    network_requests,  # noqa: E402
    open_report,
    screenshot,
)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from bevlog.cli import cli  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REAL = REAL_SET1
DETR3D = REAL / "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
STREAMPETR = REAL / "PrymceQ__BEVModel_StreamPETR__20230725_174411.log"


@pytest.mark.slow
def test_real_report_renders_in_chromium(tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["report", str(DETR3D), str(STREAMPETR), "-o", str(out), "--align", "samples"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    driver = chrome(tmp_path)
    try:
        open_report(driver, out)
        state = {p["id"]: p for p in driver.execute_script(PANEL_STATE)}
        shot = screenshot(driver, "report_detr3d_vs_streampetr.png")
        errors = console_errors(driver)
        requests = network_requests(driver)
        dialogs = driver.execute_script("return window.__dialogs")
        table_rows = driver.execute_script("return document.querySelectorAll('#run-table tbody tr').length")
        legend = driver.execute_script(
            "return Array.from(document.querySelectorAll('#panel-loss .legendtext')).map(e => e.textContent)"
        )
        # zooming x on one panel zooms all of them (they share one alignment)
        driver.execute_script(
            "Plotly.relayout(document.getElementById('panel-loss'),"
            " {'xaxis.range[0]': 100000, 'xaxis.range[1]': 200000});"
        )
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script(
                "return document.getElementById('panel-evals')._fullLayout.xaxis2.range[0] === 100000"
            )
        )
        ranges = driver.execute_script(
            "return ['panel-lr', 'panel-grad', 'panel-components', 'panel-layers'].map(id =>"
            " document.getElementById(id)._fullLayout.xaxis.range)"
        )
    finally:
        driver.quit()
    assert errors == []
    assert requests == []
    assert dialogs == []
    assert table_rows == 2
    assert ranges == [[100000, 200000]] * 4
    assert {"PrymceQ__3DDetection_DETR3D", "PrymceQ__BEVModel_StreamPETR"} <= set(legend)
    assert set(state) == {"panel-loss", "panel-components", "panel-layers", "panel-lr", "panel-grad", "panel-evals"}
    # raw + smoothed per run, the lr line per run, …: drawn as SVG paths, not just data
    assert state["panel-loss"]["drawn_lines"] >= 4
    assert state["panel-components"]["drawn_lines"] >= 9  # StreamPETR alone logs 9 terms
    assert state["panel-lr"]["drawn_lines"] == 2
    assert state["panel-grad"]["drawn_lines"] >= 4
    assert state["panel-grad"]["drawn_points"] >= 19  # StreamPETR's nan/inf grad_norm rows
    assert state["panel-evals"]["drawn_points"] >= 12
    # DETR3D: cls and bbox; StreamPETR: frame_0, frame_0_dn × cls, bbox (its encoder has one layer)
    assert state["panel-layers"]["drawn_heatmaps"] == 6
    for p in state.values():
        assert p["traces"] > 0
    assert shot.stat().st_size > 50_000


@pytest.mark.slow
def test_seed_groups_and_the_index_render_in_chromium(tmp_path):
    """Twelve real seeded runs (more than MANY_RUNS): bands are drawn as filled areas, the
    run table links to each run's section, nothing errs, nothing is fetched."""
    from bevlog.report import MANY_RUNS

    seeds = REPO / "fixtures" / "runs" / "seeds"
    names = sorted(p.name for p in seeds.iterdir())[:12]
    assert len(names) > MANY_RUNS
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["report", *[str(seeds / n) for n in names], "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    driver = chrome(tmp_path)
    try:
        open_report(driver, out)
        fills = driver.execute_script(
            "return document.querySelectorAll('#panel-loss .scatterlayer .trace path.js-fill').length"
        )
        links = driver.execute_script("return document.querySelectorAll('#run-table a[href^=\"#run-\"]').length")
        driver.execute_script("document.querySelector('#run-table a[href=\"#run-5\"]').click()")
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return location.hash") == "#run-5")
        top = driver.execute_script("return Math.round(document.getElementById('run-5').getBoundingClientRect().top)")
        errors = console_errors(driver)
        requests = network_requests(driver)
    finally:
        driver.quit()
    assert errors == [] and requests == []
    assert links == 12
    assert fills == 3  # one band per group of seeds: attn-width-s0…2, base-s0…4, batch-20-lr-1.6e-3-s0…3
    assert abs(top) <= 5  # the link scrolled its section to the top
