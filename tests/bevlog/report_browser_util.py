"""Open a report in headless Chromium (selenium + Debian's chromedriver) and read what it drew.

Not a test module: the report tests import it. Skips (never fails silently) when the
browser or selenium is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]

# Records alert/confirm/prompt calls before any script of the page runs.
TRAP = (
    "window.__dialogs = [];"
    "['alert', 'confirm', 'prompt'].forEach(function (n) {"
    "  window[n] = function (m) { window.__dialogs.push(n + ':' + m); }; });"
)

PANEL_STATE = """
return Array.from(document.querySelectorAll('.plot')).map(function (g) {
  return {id: g.id,
          traces: (g.data || []).length,
          drawn_lines: g.querySelectorAll('.scatterlayer .trace path.js-line').length,
          drawn_points: g.querySelectorAll('.scatterlayer .trace path.point').length,
          drawn_heatmaps: g.querySelectorAll('.heatmaplayer image, .hm image').length};
});
"""


def chrome(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary or not os.path.exists(CHROMEDRIVER):
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    for flag in FLAGS + [f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        opts.add_argument(flag)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRAP})
    return driver


def open_report(driver, path):
    """Load the file URL and wait until every panel has been drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return document.body.getAttribute('data-rendered')") is not None
    )


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def network_requests(driver):
    """Every resource the page fetched after the document itself (must be none)."""
    return driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


def screenshot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(height + 40, 16000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path
