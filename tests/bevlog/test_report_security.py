"""Markup in a log (file name, metric keys) is shown as text in the report, never run.

The crafted log is derived in a temporary folder from real lines of the DETR3D .log.json;
its file name carries `<img src=x onerror=alert(1)>` and a `<script>` (a file name cannot
hold '/', so the full `</script><script>alert(1)</script>` goes into the metric keys).
"""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_paths import REAL_SET1
from report_browser_util import chrome, console_errors, network_requests, open_report, screenshot

from bevlog.cli import cli

REPO = Path(__file__).resolve().parents[2]
SOURCE = REAL_SET1 / "PrymceQ__3DDetection_DETR3D__20230727_114037.log.json"
SCRIPT = "</script><script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FILE_NAME = f"run{IMG}<script>alert(1)<\\script>.log.json"


def crafted_log(folder: Path) -> Path:
    """First 300 train rows and 2 evaluations of the real run, with hostile key names in
    places every panel shows: a loss component, the total-loss-adjacent term, eval metrics."""
    lines = SOURCE.read_text().splitlines()
    out, n = [lines[0]], 0
    for line in lines[1:]:
        row = json.loads(line)
        if row.get("mode") == "train" and n < 300:
            n += 1
            row[f"loss_cls{SCRIPT}"] = row.pop("loss_cls")
            row[f"loss_bbox{IMG}"] = row.pop("loss_bbox")
            out.append(json.dumps(row))
        elif row.get("mode") == "val" and row["epoch"] <= 4:
            row[f"{IMG}/NDS"] = row.pop("pts_bbox_NuScenes/NDS")
            row[f"{SCRIPT}/mAP"] = row.pop("pts_bbox_NuScenes/mAP")
            out.append(json.dumps(row))
    path = folder / FILE_NAME
    path.write_text("\n".join(out) + "\n")
    return path


def test_markup_is_escaped_in_the_file(tmp_path):
    log = crafted_log(tmp_path)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(log), "-o", str(out), "--no-findings"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    bundle_start = html.index("<script>/**\n* plotly.js")
    page = html[:bundle_start] + html[html.index("</script>", bundle_start) :]
    assert "<img" not in page
    assert page.count("<script") == 2  # the JSON payload and the drawing code (plotly.js cut out)
    assert "alert(1)" in page  # the names are there … as text
    assert re.search(r"&lt;img src=x onerror=alert\(1\)&gt;", page)


@pytest.mark.slow
def test_no_markup_is_live_in_the_browser(tmp_path):
    log = crafted_log(tmp_path)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(log), "-o", str(out), "--no-findings"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    driver = chrome(tmp_path)
    try:
        open_report(driver, out)
        dialogs = driver.execute_script("return window.__dialogs")
        counts = driver.execute_script(
            "return {img: document.querySelectorAll('img').length,"
            " scripts: document.querySelectorAll('script').length,"
            " handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length}"
        )
        table = driver.execute_script("return document.querySelector('#run-table').textContent")
        svg_text = driver.execute_script(
            "return Array.from(document.querySelectorAll('.plot text')).map(t => t.textContent).join('\\n')"
        )
        errors = console_errors(driver)
        requests = network_requests(driver)
        screenshot(driver, "report_security.png")
        try:
            alert_open = driver.switch_to.alert.text
        except Exception:  # NoAlertPresentException: what we want
            alert_open = None
    finally:
        driver.quit()
    assert dialogs == [] and alert_open is None
    assert counts == {"img": 0, "scripts": 3, "handlers": 0}
    assert errors == [] and requests == []
    # shown literally, where a person can read it
    assert IMG in table and "<script>alert(1)<\\script>" in table
    assert f"loss_cls{SCRIPT}" in svg_text  # a component subplot title
    assert f"{IMG}/NDS" in svg_text and f"{SCRIPT}/mAP" in svg_text  # evaluation subplot titles
