"""Static PNG images of the report's panels through kaleido ≥ 1 and a local Chromium.

kaleido 1.x drives an installed Chrome/Chromium; it would fetch MathJax from a CDN by
default, so MathJax is turned off and plotly.js comes from the plotly package: the
export makes no network request either.

kaleido (an optional extra) is imported when a PNG is asked for.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from importlib.metadata import version as dist_version

from bevlog.report.html import plot_text, plotly_js_path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class PngUnavailable(RuntimeError):
    """PNG export cannot run here; str() says what to install."""


def find_browser() -> str | None:
    path = os.environ.get("BROWSER_PATH")
    if path and os.path.exists(path):
        return path
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def check_png_support() -> str:
    """The browser kaleido will use; PngUnavailable when kaleido ≥ 1 or a Chromium is missing."""
    try:
        import kaleido
    except ImportError:
        raise PngUnavailable(
            "--png needs the kaleido package ≥ 1 (pip install 'kaleido>=1') "
            "and a Chromium/Chrome; kaleido is not installed"
        ) from None
    version = getattr(kaleido, "__version__", None)
    if version is None:
        version = dist_version("kaleido")
    if int(str(version).split(".")[0]) < 1:
        raise PngUnavailable(f"--png needs kaleido ≥ 1 (found {version}): pip install -U 'kaleido>=1'")
    browser = find_browser()
    if browser is None:
        raise PngUnavailable(
            "--png needs Chromium or Chrome installed (e.g. apt-get install chromium, "
            "or set BROWSER_PATH); none was found, so no PNG was written"
        )
    return browser


TITLE_PX = 40


def titled(figure: dict, title: str) -> dict:
    """A copy of a panel's figure with its title drawn in the image (the HTML page shows it
    as a heading; a PNG travels alone). The figure's own layout is not changed."""
    layout = dict(figure["layout"])
    margin = dict(layout.get("margin") or {})
    margin["t"] = int(margin.get("t", 36)) + TITLE_PX
    layout.update(
        margin=margin,
        height=int(layout.get("height", 400)) + TITLE_PX,
        title={
            "text": f"<b>{plot_text(title)}</b>",
            "x": 0.01,
            "xanchor": "left",
            "y": 1 - 10 / (int(layout.get("height", 400)) + TITLE_PX),
            "yanchor": "top",
            "font": {"size": 16},
        },
    )
    return {"data": figure["data"], "layout": layout}


def write_pngs(panels: list[dict], out_dir: str, width: int = 1200, scale: float = 1.0) -> list[str]:
    """One `<panel>.png` per drawn panel in out_dir; returns the paths written.

    Each PNG is rendered to a hidden temporary file beside it and renamed into place once the
    export succeeded: a PNG in out_dir is whole, and a failed or interrupted export leaves none
    of its temporary files behind."""
    browser = check_png_support()
    import kaleido

    os.makedirs(out_dir, exist_ok=True)
    jobs, paths = [], []
    for p in panels:
        if p.get("figure") is None:
            continue
        name = p["id"].removeprefix("panel-") + ".png"
        path = os.path.join(out_dir, name)
        fig = titled(p["figure"], p["title"])
        height = int(fig["layout"].get("height", 400))
        jobs.append(
            {
                "fig": fig,
                "path": os.path.join(out_dir, f".{name}.{os.getpid()}.tmp.png"),
                "opts": {"format": "png", "width": width, "height": height, "scale": scale},
            }
        )
        paths.append(path)
    os.environ.setdefault("BROWSER_PATH", browser)
    written = []
    try:
        try:
            kaleido.write_fig_from_object_sync(jobs, kopts={"mathjax": False, "plotlyjs": plotly_js_path()})
        except Exception as exc:  # kaleido reports browser trouble with its own exception types
            raise PngUnavailable(f"PNG export failed in kaleido/Chromium: {type(exc).__name__}: {exc}") from None
        for job, path in zip(jobs, paths):
            if os.path.exists(job["path"]):
                os.replace(job["path"], path)
                written.append(path)
    finally:
        for job in jobs:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(job["path"])
    return written
