"""The report's text sections: the settings that differ, the comparison (table and verdict),
and, for many runs, one section per run. Every text from a log is escaped here (`esc`)."""

from __future__ import annotations

from bevlog.align import AXIS_TITLE, AlignError
from bevlog.compare import MetricError, compare_runs
from bevlog.configdiff import by_groups, config_diff, short
from bevlog.report.evals import headline_metrics
from bevlog.report.html import esc
from bevlog.report.tables import comparison_table, findings_table, group_stats_table, run_table, settings_table

# metrics the comparison section compares: the total loss, then the first headline evaluation
COMPARE_LOSS = "loss"


def section(title: str, note: str, body: str, sid: str) -> str:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def settings_section(ctx) -> str:
    """Settings that differ between the runs (between the groups when runs are grouped)."""
    if len(ctx.runs) < 2:
        return ""
    diff = config_diff(ctx.runs, ctx.labels)
    grouped = bool(ctx.multi_groups())
    view = by_groups(diff, ctx.groups) if grouped else diff
    note = (
        "Facts every log states (batch, lr, schedule, layers …) first, then the config keys "
        "(nested keys joined by dots); settings all runs share are hidden."
    )
    if grouped:
        note += " One column per group: within a group of seeded runs only the seed and work dir differ."
    if view.without_config:
        note += f" No config in the log of: {', '.join(view.without_config)}."
    if view.truncated:
        note += f" Config cut at its first keys: {', '.join(view.truncated)}."
    return section("Settings that differ", note, settings_table(view), "section-settings")


def comparison_section(ctx) -> str:
    """`bevlog compare`'s table and verdict for the total loss and the headline evaluation metric."""
    if len(ctx.runs) < 2:
        return ""
    metrics = [COMPARE_LOSS] + headline_metrics(ctx.runs, limit=1)
    parts = []
    for metric in metrics:
        try:
            comp = compare_runs(ctx.runs, metric, ctx.align, ctx.weight, ctx.overrides, ctx.labels, ctx.groups or None)
        except (MetricError, AlignError):
            continue
        direction = "higher is better" if comp.higher_is_better else "lower is better"
        how = (
            f"final/best/@ values smoothed with EMA {comp.weight:g}"
            if comp.smoothed
            else "values as logged, not smoothed"
        )
        parts.append(f"<h3>{esc(comp.metric)} by {esc(AXIS_TITLE[comp.align])} ({esc(direction)}; {esc(how)})</h3>")
        parts.append(comparison_table(comp))
        if comp.group_stats is not None:
            parts.append(group_stats_table(comp))
        parts.append('<ul class="verdicts">' + "".join(f"<li>{esc(v)}</li>" for v in comp.verdicts) + "</ul>")
        parts.extend(f'<p class="note">{esc(n)}</p>' for n in comp.notes)
    if not parts:
        return ""
    note = "The numbers and verdicts of `bevlog compare` on this page's axis: each run (each group) against the first."
    return section("Comparison", note, "".join(parts), "section-compare")


def run_sections(ctx, findings) -> list[str]:
    """One section per run (`#run-<k>`): its row of facts, its settings among those that
    differ, and its findings. Linked from the run table when the runs are many."""
    diff = config_diff(ctx.runs, ctx.labels)
    out = []
    for k, (run, label) in enumerate(ctx.pairs()):
        group = next((g for g in ctx.groups if label in g.labels and g.n > 1), None)
        note = f"group {group.name} (n={group.n})" if group else ""
        body = run_table(ctx, only=k)
        if diff.rows:
            items = "".join(f"<li><code>{esc(row.key)}</code> = {esc(short(row.values[k]))}</li>" for row in diff.rows)
            body += f'<p class="note">Its value of each setting that differs between the runs:</p><ul>{items}</ul>'
        if findings is not None:
            mine = [f for f in findings if f.run == run.name]
            body += findings_table(mine, {run.name: label})
        body += '<p class="note"><a href="#section-runs">back to the run table</a></p>'
        out.append(section(label, note, body, f"run-{k}"))
    return out
