"""Escaping and the assembly of one self-contained HTML file.

Everything that comes from a log or a file name is untrusted. It reaches the page by
exactly three roads, each with its own escaping:
- HTML text and attributes: `esc()` (html.escape, quotes too);
- the figure data: one `<script type="application/json">` block whose JSON has `<`, `>`,
  `&` and the JS line separators written as \\u escapes, so it can never close the tag;
- text that plotly draws (trace names, titles, hover): plotly understands a few HTML
  tags in strings, so `plot_text()` turns `<`, `>`, `&` into entities it shows literally.
A Content-Security-Policy forbids every network request and any script but ours.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import os

import numpy as np

from bevlog.escape import clean, html_text, json_pass

# Scripts are allowed by hash: only our two <script> elements can run, never an injected
# one nor an inline event handler, even if some escaping were ever missed.
CSP = (
    "default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; "
    "base-uri 'none'"
)


def esc(text) -> str:
    """Text or attribute value for HTML (a log's control characters made visible)."""
    return html_text(text)


def plot_text(text) -> str:
    """A string plotly will render as literal text (it parses <b>, <a href> … otherwise)."""
    return html.escape(clean(text, newlines=True), quote=False)


def script_json(obj) -> str:
    """JSON safe to place inside a <script> element (DEL and C1 controls \\u-escaped too)."""
    text = json_pass(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def typed_array(values, dtype: str = "f8") -> dict:
    """A numeric array (1-D, or 2-D for heatmaps) as plotly.js's typed-array spec ({dtype, bdata}): compact and exact.

    NaN stays NaN (plotly leaves a gap there), so no value is ever invented.
    """
    arr = np.ascontiguousarray(values, dtype={"f8": "<f8", "f4": "<f4", "i4": "<i4"}[dtype])
    spec = {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
    if arr.ndim == 2:  # row-major; plotly reads "rows,cols"
        spec["shape"] = f"{arr.shape[0]},{arr.shape[1]}"
    return spec


def plotly_js_path() -> str:
    """plotly.min.js as shipped inside the plotly Python package (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed; it is needed for `bevlog report`")
    return os.path.join(list(spec.submodule_search_locations)[0], "package_data", "plotly.min.js")


def plotly_js() -> str:
    with open(plotly_js_path(), encoding="utf-8") as f:
        source = f.read()
    # A literal "</script" inside the bundle would end our <script> element early.
    return source.replace("</script", "<\\/script")


STYLE = """
:root { --fg:#1d232a; --muted:#5b6570; --line:#e3e7eb; --bg:#f6f7f9; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:18px 28px 8px; }
header h1 { margin:0; font-size:22px; }
header p { margin:4px 0 0; color:var(--muted); }
main { padding:0 28px 40px; max-width:1500px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
          margin:14px 0; padding:12px 16px 6px; }
section h2 { margin:0 0 2px; font-size:16px; }
section p.note { margin:0 0 6px; color:var(--muted); font-size:13px; }
.plot { width:100%; }
table { border-collapse:collapse; font-size:12.5px; width:100%; }
th, td { text-align:left; padding:4px 7px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.name { font-weight:600; min-width:14em; overflow-wrap:anywhere; }
td.nw { white-space:nowrap; }
td.src { color:var(--muted); font-size:12px; overflow-wrap:anywhere; min-width:10em; }
.swatch { display:inline-block; width:12px; height:12px; border-radius:3px; margin-right:6px;
          vertical-align:-1px; }
.sev-error { color:#b3261e; font-weight:600; } .sev-warning { color:#a15c00; font-weight:600; }
.sev-info { color:#2f5f8a; }
.scroll { overflow-x:auto; }
section h3 { margin:10px 0 4px; font-size:14px; }
ul.verdicts { margin:6px 0; padding-left:20px; }
ul.verdicts li { margin:3px 0; }
table + table, .scroll + .scroll { margin-top:8px; }
"""

SCRIPT = """
(function () {
  var payload = JSON.parse(document.getElementById('bevlog-data').textContent);
  var config = {displaylogo: false, responsive: true, scrollZoom: false,
                modeBarButtonsToRemove: ['select2d', 'lasso2d']};
  var divs = [];
  payload.panels.forEach(function (p) {
    var div = document.getElementById(p.id);
    Plotly.newPlot(div, p.figure.data, p.figure.layout, config);
    divs.push(div);
  });
  // Zooming x in one panel zooms every panel: they share one alignment.
  var syncing = false;
  divs.forEach(function (src) {
    src.on('plotly_relayout', function (ev) {
      if (syncing) return;
      var update = {}, found = false;
      Object.keys(ev).forEach(function (k) {
        if (/^xaxis\\d*\\.range\\[[01]\\]$/.test(k)) { update[k.replace(/^xaxis\\d*/, 'X')] = ev[k]; found = true; }
        if (/^xaxis\\d*\\.autorange$/.test(k)) { update['X.autorange'] = ev[k]; found = true; }
      });
      if (!found) return;
      syncing = true;
      var done = [];
      divs.forEach(function (dst) {
        if (dst === src) return;
        var rel = {};
        Object.keys(dst._fullLayout).forEach(function (ax) {
          if (!/^xaxis\\d*$/.test(ax)) return;
          Object.keys(update).forEach(function (k) { rel[k.replace('X', ax)] = update[k]; });
        });
        done.push(Plotly.relayout(dst, rel));
      });
      Promise.all(done).then(function () { syncing = false; }, function () { syncing = false; });
    });
  });
  document.body.setAttribute('data-rendered', String(divs.length));
})();
"""


def assemble(title: str, subtitle: str, sections: list[str], panels: list[dict]) -> str:
    """The whole page. `sections` are HTML fragments already escaped; `panels` are
    {"id", "figure"} dicts whose figures are drawn into `<div id=...>` inside the sections."""
    payload = script_json({"panels": panels})
    bundle = plotly_js()
    csp = CSP.format(hashes=" ".join(_sha256(code) for code in (bundle, SCRIPT)))
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n",
            f"<script>{bundle}</script>\n</head>\n<body>\n",
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n<main>\n",
            "\n".join(sections),
            "\n</main>\n",
            f'<script type="application/json" id="bevlog-data">{payload}</script>\n',
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n",
        ]
    )


def _sha256(code: str) -> str:
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"
