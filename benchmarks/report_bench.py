"""Time to build `bevlog report` for 10 runs of ~50k logged rows each: baseline vs ours.

    python benchmarks/report_bench.py                 # 10 runs × ~50k rows, 3 rounds
    python benchmarks/report_bench.py --runs 4 --rounds 1 --browser   # also time Chromium drawing it

Input: the real DETR3D log (fixtures/real/set1) parsed once, then tiled 15× along the
step axis (3360 → 50,400 rows, layers and evaluations too) and scaled a little per run,
so every run has the real columns and real noise. Parsing is not timed.

- baseline: the straightforward route: the same panels with every row drawn, handed to
  plotly.py (`go.Figure` + `plotly.io.to_html`, plotly.js included once);
- ours, no thinning: bevlog's dict figures + typed arrays, every row drawn (max_points=None);
- ours: `bevlog.report.build_report` as shipped (min/max thinning to 2000 points a curve).
The statistics in the run table use all rows in every variant. Variants run interleaved
per round and the median is reported, with ratios against the baseline.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import parsers  # noqa: E402
from bevlog.report import build_report, prepare, render  # noqa: E402

REAL = os.path.join(
    os.path.dirname(__file__), "..", "fixtures", "real", "set1", "PrymceQ__3DDetection_DETR3D__20230727_114037.log"
)


def tiled_runs(n_runs: int, copies: int):
    base = parsers.read(REAL)
    last_step = float(base.train["step"].max())
    ipe = float(base.meta["iters_per_epoch"])
    runs = []
    for i in range(n_runs):
        scale = 1.0 + 0.04 * i
        trains, layers, evals = [], [], []
        for k in range(copies):
            t = base.train.copy()
            t["step"] += k * last_step
            t["epoch_f"] = t["step"] / ipe
            t["epoch"] += k * 24
            t["samples"] = t["step"] * 4
            t["wall_s"] += k * float(base.train["wall_s"].max())
            for c in t.columns:
                if "loss" in c:
                    t[c] = t[c] * scale
            trains.append(t)
            lay = base.layers.copy()
            lay["step"] += k * last_step
            lay["epoch_f"] = lay["step"] / ipe
            lay["value"] *= scale
            layers.append(lay)
            ev = base.evals.copy()
            ev["step"] += k * last_step
            ev["epoch"] += k * 24
            evals.append(ev)
        name = f"detr3d_tiled_{i}"
        meta = dataclasses.replace(base.meta, name=name, max_epochs=24 * copies)
        train = pd.concat(trains, ignore_index=True).assign(run=name)
        runs.append(
            parsers.Run(
                meta,
                train,
                pd.concat(layers, ignore_index=True).assign(run=name),
                pd.concat(evals, ignore_index=True).assign(run=name),
            )
        )
    return runs


def _untyped(obj):
    """Typed-array specs back to numpy arrays (what a straightforward caller hands plotly.py)."""
    if isinstance(obj, dict):
        if set(obj) >= {"dtype", "bdata"}:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype="<" + obj["dtype"])
            return arr.reshape([int(n) for n in obj["shape"].split(",")]) if "shape" in obj else arr
        return {k: _untyped(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_untyped(v) for v in obj]
    return obj


def baseline(runs) -> str:
    import plotly.graph_objects as go
    import plotly.io as pio

    ctx, panels = prepare(runs, max_points=None)
    parts = []
    first = True
    for p in panels:
        if p["figure"] is None:
            continue
        fig = go.Figure(_untyped(p["figure"]))
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=first))
        first = False
    return "<html><body>" + "".join(parts) + "</body></html>"


def ours_unthinned(runs) -> str:
    ctx, panels = prepare(runs, max_points=None)
    return render(ctx, panels)


def ours(runs) -> str:
    return build_report(runs)


VARIANTS = [
    ("baseline (plotly.py, all rows)", baseline),
    ("ours, no thinning", ours_unthinned),
    ("ours (shipped)", ours),
]


def browser_seconds(html: str) -> float:
    """Seconds until Chromium has drawn every panel of the page (file:// URL)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.html")
        with open(path, "w") as f:
            f.write(html)
        opts = webdriver.ChromeOptions()
        for a in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp}/profile",
        ]:
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        driver.set_page_load_timeout(600)
        try:
            t0 = time.perf_counter()
            driver.get("file://" + path)
            # ours marks the body when done; plotly.py's page draws synchronously on load
            WebDriverWait(driver, 600).until(
                lambda d: d.execute_script(
                    "var g = document.querySelectorAll('.js-plotly-plot');"
                    "return g.length > 0 && Array.from(g).every(x => x._fullLayout) && "
                    "(document.body.getAttribute('data-rendered') !== null || !document.getElementById('bevlog-data'))"
                )
            )
            return time.perf_counter() - t0
        finally:
            driver.quit()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--copies", type=int, default=15, help="tiles of the 3360-row log per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time Chromium drawing each page once")
    args = ap.parse_args()

    runs = tiled_runs(args.runs, args.copies)
    rows = len(runs[0].train)
    import plotly

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, plotly {plotly.__version__}"
    )
    print(
        f"input: {len(runs)} runs × {rows} train rows, {len(runs[0].layers)} layer rows, "
        f"{len(runs[0].evals)} eval rows each"
    )
    times = {name: [] for name, _ in VARIANTS}
    sizes, pages = {}, {}
    for _ in range(args.rounds):
        for name, fn in VARIANTS:
            t0 = time.perf_counter()
            html = fn(runs)
            times[name].append(time.perf_counter() - t0)
            sizes[name] = len(html.encode("utf-8"))
            pages[name] = html
    base = statistics.median(times[VARIANTS[0][0]])
    print(f"{'variant':34s} {'build s':>8s} {'× faster':>9s} {'HTML MB':>8s}")
    for name, _ in VARIANTS:
        t = statistics.median(times[name])
        print(f"{name:34s} {t:8.2f} {base / t:9.1f} {sizes[name] / 1e6:8.1f}")
    if args.browser:
        print(f"{'variant':34s} {'Chromium draws, s':>18s}")
        for name, _ in VARIANTS:
            print(f"{name:34s} {browser_seconds(pages[name]):18.1f}")


if __name__ == "__main__":
    main()
