"""HTML tables of the report: the runs at a glance, and the findings list. All text escaped."""

from __future__ import annotations

import math
import numbers
import os

from bevlog.align import UNIT, log_interval, total_batch
from bevlog.compare import metric_curve
from bevlog.comparestats import fmt_value
from bevlog.configdiff import SHORT, text
from bevlog.groupcompare import mean_sd_text
from bevlog.report.html import esc
from bevlog.summary import batch_text, fmt_lr, fmt_num, length_text
from bevlog.where import finding_where


def run_table(ctx, link: bool = False, only: int | None = None) -> str:
    """One row per run. `link`: each name links to the run's own section (`#run-<k>`);
    `only`: the row of run k alone (in that section)."""
    smoothed = f" (EMA {ctx.weight:g})" if ctx.weight else ""
    head = [
        "run",
        "format",
        "length",
        "batch",
        "optimizer · lr",
        "lr/sample",
        "decoder",
        "rows",
        f"final loss{smoothed}",
        f"best loss{smoothed}",
        "evals",
        "ended",
        "skipped",
        "source",
    ]
    rows = []
    for k, (run, label) in enumerate(ctx.pairs()):
        if only is not None and k != only:
            continue
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
            (
                "name",
                f'<span class="swatch" style="background:{esc(ctx.colors[label])}"></span>'
                + (f'<a href="#run-{k}">{esc(label)}</a>' if link else esc(label)),
            ),
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
            (
                "src",
                "<br>".join(f'<span title="{esc(s)}">{esc(os.path.basename(str(s)) or s)}</span>' for s in sources),
            ),
        ]
        rows.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for c, v in cells) + "</tr>")
    table_id = "run-table" if only is None else f"run-table-{only}"
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


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
    return (
        '<div class="scroll"><table id="findings-table"><thead><tr><th>severity</th><th>run</th>'
        "<th>rule</th><th>where</th><th>what</th><th>fix</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def span_text(f) -> str:
    """Where the finding is (bevlog.where: the one formatter every output uses)."""
    return finding_where(f, None)


def _clipped(text: str, n: int) -> str:
    """At most n characters shown; the whole text in the tooltip."""
    text = str(text)
    shown = text if len(text) <= n else text[: n - 1] + "…"
    return f'<span title="{esc(text)}">{esc(shown)}</span>'


def _ok(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def settings_table(view) -> str:
    """The settings that differ (bevlog.configdiff.ConfigDiff, per run or per group): a
    setting × run table, every value escaped, long ones shortened (whole in the tooltip)."""
    if not view.rows:
        return '<p class="note">No setting differs between the runs that the logs state.</p>'
    head = "".join(f"<th>{esc(label)}</th>" for label in view.labels)
    rows = []
    for row in view.rows:
        cells = "".join(f"<td>{_clipped(text(v), SHORT)}</td>" for v in row.values)
        rows.append(f'<tr data-kind="{esc(row.kind)}"><td class="nw">{esc(row.key)}</td>{cells}</tr>')
    return (
        '<div class="scroll"><table id="settings-table"><thead><tr><th>setting</th>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def comparison_table(comp) -> str:
    """The compare table of one metric (bevlog.comparestats.Comparison): the numbers `bevlog
    compare` prints, one row per run."""
    checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
    head = (
        ["run", "batch", "lr", "lr/sample", "it/ep", "rows", "final", "best"]
        + checkpoint_cols
        + ["noise", "noise·√(B·n)", f"slope/{UNIT[comp.align]}", "curve"]
    )
    rows = []
    for _, r in comp.stats.iterrows():
        cells = [
            ("name", esc(r["run"])),
            ("num", esc(_int(r["batch"]))),
            ("num", esc(fmt_lr(r["lr"]))),
            ("num", esc(fmt_lr(r["lr_per_sample"]))),
            ("num", esc(_int(r["iters_per_epoch"]))),
            ("num", esc(_int(r["rows"]))),
            ("num", esc(fmt_value(r["final"]))),
            ("num", esc(fmt_value(r["best"]))),
        ]
        cells += [("num", esc(fmt_value(r[c]))) for c in checkpoint_cols]
        cells += [
            ("num", esc(_g3(r["noise"]))),
            ("num", esc(_g3(r["noise_norm"]))),
            ("num", esc(_g3(r["slope"]))),
            ("nw", esc(r["curve"])),
        ]
        rows.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' for c, v in cells) + "</tr>")
    return (
        '<div class="scroll"><table class="compare-table"><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def group_stats_table(comp) -> str:
    """mean ± sd and n per group at final, best and the shown checkpoints."""
    checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
    cols = ["final", "best"] + checkpoint_cols
    rows = []
    for _, r in comp.group_stats.iterrows():
        cells = [("name", esc(r["group"])), ("num", esc(r["n"])), ("nw", esc(r["seeds"]))]
        for c in cols:
            mean, sd = r[f"{c}_mean"], r[f"{c}_sd"]
            cells.append(("num", esc(mean_sd_text(mean if _ok(mean) else None, sd if _ok(sd) else None))))
        rows.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' for c, v in cells) + "</tr>")
    return (
        '<div class="scroll"><table class="group-table"><thead><tr><th>group</th><th>n</th><th>seeds</th>'
        + "".join(f"<th>{esc(c)} (mean ± sd)</th>" for c in cols)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _int(v) -> str:
    return str(int(v)) if _ok(v) else "?"


def _g3(v) -> str:
    if not _ok(v):
        return "–"
    return f"{v:.2e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4) else f"{v:.3g}"
