"""HTML tables of the report: the runs at a glance, and the findings list. All text escaped."""
from __future__ import annotations

import math
import os

from bevlog.report.html import esc


def run_table(ctx) -> str:
    from bevlog.align import log_interval, total_batch
    from bevlog.compare import metric_curve
    from bevlog.summary import batch_text, fmt_lr, fmt_num, length_text

    head = ["run", "format", "length", "batch", "optimizer · lr", "lr/sample", "decoder",
            "rows", "final loss", "best loss", "evals", "ended", "skipped", "source"]
    rows = []
    for run, label in ctx.pairs():
        meta = run.meta
        batch = total_batch(run, ctx.overrides)
        lr = meta.get("lr")
        if not _ok(lr) and "lr" in run.train and run.train["lr"].notna().any():
            lr = float(run.train["lr"].max())
        curve = metric_curve(run, label, "loss", ctx.align, ctx.weight, ctx.overrides)
        final = best = None
        if curve is not None:
            s = curve.smooth[curve.smooth == curve.smooth]
            if len(s):
                final, best = float(s[-1]), float(s.min())
        interval = log_interval(run)
        skipped = meta.get("skipped") or {}
        n_skipped = sum(skipped.values()) if isinstance(skipped, dict) else skipped
        sources = meta.get("sources") or []
        batch_cell = batch_text(meta) if batch == meta.get("total_batch") else f"{batch} (--batch)"
        cells = [
            ("name", f'<span class="swatch" style="background:{esc(ctx.colors[label])}"></span>{esc(label)}'),
            ("nw", esc(meta.get("format") or "?")),
            ("", esc(length_text(meta))),
            ("num", esc(batch_cell if batch else "?")),
            ("nw", esc(f"{meta.get('optimizer') or '?'} {fmt_lr(lr)}")),
            ("num", esc(fmt_lr(lr / batch) if _ok(lr) and batch else "?")),
            ("nw", esc(decoder_text(meta))),
            ("num", esc(f"{len(run.train)} × {interval:g} it" if interval else len(run.train))),
            ("num", esc(fmt_num(final))),
            ("num", esc(fmt_num(best))),
            ("num", esc(len(run.evals["step"].unique()) if len(run.evals) else 0)),
            ("", _clipped(meta.get("ended") or "?", 40)),
            ("num", esc(n_skipped or 0)),
            ("src", "<br>".join(f'<span title="{esc(s)}">{esc(os.path.basename(str(s)) or s)}</span>'
                                for s in sources)),
        ]
        rows.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>"
                                     for c, v in cells) + "</tr>")
    return ('<div class="scroll"><table id="run-table"><thead><tr>'
            + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def decoder_text(meta: dict) -> str:
    n, aux = meta.get("num_decoder_layers"), meta.get("has_aux_loss")
    if not n:
        return "?"
    return f"{n} layers, aux {'on' if aux else 'off' if aux is False else '?'}"


def findings_table(findings, labels_by_name: dict) -> str:
    """Worst first; span in epochs when known, else steps."""
    if not findings:
        return '<p class="note">No findings.</p>'
    order = sorted(findings, key=lambda f: (-f.rank, labels_by_name.get(f.run, f.run), f.start_step or 0))
    rows = []
    for f in order:
        fix = f.fix.text if getattr(f, "fix", None) is not None else ""
        rows.append(
            f'<tr data-run="{esc(f.run)}">'
            f'<td class="sev-{esc(f.severity)}">{esc(f.severity)}</td>'
            f'<td class="name">{esc(labels_by_name.get(f.run, f.run))}</td>'
            f'<td class="nw">{esc(f.rule)}</td><td class="num">{esc(span_text(f))}</td>'
            f"<td>{esc(f.message)}</td><td>{esc(fix)}</td></tr>"
        )
    return ('<div class="scroll"><table id="findings-table"><thead><tr><th>severity</th><th>run</th>'
            "<th>rule</th><th>where</th><th>what</th><th>fix</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def span_text(f) -> str:
    """Where the finding is (bevlog.where: the one formatter every output uses)."""
    from bevlog.where import finding_where

    return finding_where(f, None)


def _clipped(text: str, n: int) -> str:
    """At most n characters shown; the whole text in the tooltip."""
    text = str(text)
    shown = text if len(text) <= n else text[: n - 1] + "…"
    return f'<span title="{esc(text)}">{esc(shown)}</span>'


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
