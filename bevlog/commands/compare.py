"""`bevlog compare`: align runs, smooth, and print a table of statistics and a verdict per pair.

Imports of pandas, rich and the analysis stay inside functions: `bevlog --help` loads this
module (docs/architecture.md, "Imports").
"""

from __future__ import annotations

import math
import numbers

import click

from bevlog import envelope
from bevlog.configdiff import by_groups, comparable, config_diff, short
from bevlog.escape import clean
from bevlog.groups import GroupError, find_groups, has_groups
from bevlog.options import (
    align_option,
    batch_option,
    choose_align,
    group_options,
    jobs_option,
    load,
    nothing_read,
    output_width,
    paths_argument,
    smooth_option,
    use_color,
    wide_option,
)
from bevlog.output import BadInput, open_output


@click.command(name="compare")
@paths_argument
@align_option
@click.option(
    "-m",
    "--metric",
    "metrics",
    multiple=True,
    default=("loss",),
    show_default=True,
    help="Train column (loss, loss_cls, grad_norm …) or evaluation metric (NDS, "
    "bbox_mAP …; a unique suffix is enough). Repeatable.",
)
@smooth_option
@batch_option
@group_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@wide_option
@jobs_option
@click.pass_context
def command(ctx, paths, align, metrics, smooth, batch, group, no_groups, fmt, wide, jobs):
    """Compare runs fairly on one x axis: the settings that differ, then per metric
    final/best values, values at common checkpoints, noise normalised by √(batch × logging
    interval), late slope, a sparkline, and a verdict naming the likely cause.

    Runs that differ only in their seed are one group (mean ± sd, n, and each group's
    difference from the first with a 95% CI, paired by seed where the seeds match).

    \b
    Examples:
      bevlog compare work_dirs/b8 work_dirs/b20 --align samples
      bevlog compare a.log b.log --metric loss --metric NDS --format csv
      bevlog compare old.log new.log --align samples --batch old=16
      bevlog compare work_dirs/sweep -m mAP --group '-s[0-9]+$'
    """
    from bevlog.align import AlignError, overrides_for, parse_batch_overrides
    from bevlog.compare import MetricError, compare_runs, run_labels

    try:
        overrides = parse_batch_overrides(batch)
    except AlignError as exc:
        raise click.BadParameter(str(exc), param_hint="--batch") from None
    loaded = load(paths, jobs)
    nothing_read(ctx, loaded, on_empty=(lambda got: _write_json([], None, got)) if fmt == "json" else None)
    runs = loaded.runs
    align = choose_align(ctx, align, runs, loaded.notes)
    labels = run_labels(runs)
    try:
        groups = find_groups(runs, labels, pattern=group, auto=not no_groups)
    except GroupError as exc:
        raise click.BadParameter(str(exc), param_hint="--group") from None
    comparisons = []
    try:
        overrides = overrides_for(runs, labels, overrides)
        for metric in metrics:
            comparisons.append(compare_runs(runs, metric, align, smooth, overrides, labels, groups))
    except (AlignError, MetricError) as exc:
        raise BadInput(str(exc)) from None
    diff = config_diff(runs, labels)
    if fmt == "table":
        _print_tables(comparisons, diff, groups, wide)
    elif fmt == "csv":
        _write_csv(comparisons)
    else:
        _write_json(comparisons, diff, loaded)
    if loaded.problems:
        ctx.exit(2)


# most wanted first: the narrow default shows the longest prefix of this that fits
PRIORITY = [
    "run",
    "final",
    "best",
    "batch",
    "lr",
    "curve",
    "noise·√(B·n)",
    "@",
    "slope",
    "it/ep",
    "rows",
    "noise",
    "lr/sample",
]


def _print_tables(comparisons, diff, groups, wide: bool):
    from rich.text import Text

    from bevlog.align import AXIS_TITLE, UNIT
    from bevlog.comparestats import fmt_value
    from bevlog.summary import fmt_lr
    from bevlog.table import fitting, left_out, make_table, render

    width = output_width(wide)
    parts = _settings_parts(diff, groups)
    for comp in comparisons:
        direction = "higher is better" if comp.higher_is_better else "lower is better"
        if comp.smoothed:
            how = f"final/best/@ values smoothed with EMA {comp.weight:g}"
        else:
            how = "values as logged, not smoothed" if comp.weight else "no smoothing"
        parts.append(Text(f"{clean(comp.metric)} by {AXIS_TITLE[comp.align]} ({direction}; {how})", style="bold"))
        checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
        slope = f"slope/{UNIT[comp.align]}"
        order = (
            ["run", "batch", "lr", "lr/sample", "it/ep", "rows", "final", "best"]
            + checkpoint_cols
            + ["noise", "noise·√(B·n)", slope, "curve"]
        )
        priority = [c for p in PRIORITY for c in ([slope] if p == "slope" else checkpoint_cols if p == "@" else [p])]
        rows = []
        for _, row in comp.stats.iterrows():
            cells = {
                "run": row["run"],
                "batch": _int(row["batch"]),
                "lr": fmt_lr(row["lr"]),
                "lr/sample": fmt_lr(row["lr_per_sample"]),
                "it/ep": _int(row["iters_per_epoch"]),
                "rows": _int(row["rows"]),
                "final": fmt_value(row["final"]),
                "best": fmt_value(row["best"]),
                "noise": _short(row["noise"]),
                "noise·√(B·n)": _short(row["noise_norm"]),
                slope: _short(row["slope"]),
                "curve": row["curve"],
            }
            cells.update({c: fmt_value(row[c]) for c in checkpoint_cols})
            rows.append(cells)
        shown = fitting(priority, rows, width, keep=3, max_width={"run": 28})
        parts.append(
            make_table(
                [c for c in order if c in shown],
                rows,
                right=set(order) - {"run", "curve"},
                max_width={"run": 28},
                fold={"run"},
            )
        )
        parts += left_out(priority, shown)
        if comp.group_stats is not None:
            parts.append(_group_table(comp))
        parts += [Text(clean(v)) for v in comp.verdicts]
        parts += [Text(clean(n), style="dim") for n in comp.notes]
        parts.append(Text(""))  # a blank line between metrics
    with open_output(None, "table") as f:
        f.write(render(parts, width, use_color()) + "\n")


def _group_table(comp):
    """mean ± sd per group (n runs, their seeds) at final, best and the checkpoints."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, header_style="bold", pad_edge=False, title_justify="left")
    checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
    for h in ["group", "n", "seeds", "final", "best"] + checkpoint_cols:
        table.add_column(
            h + (" (mean ± sd)" if h == "final" else ""),
            justify="left" if h in ("group", "seeds") else "right",
            overflow="fold" if h == "group" else "ellipsis",
        )
    for _, row in comp.group_stats.iterrows():
        cells = [row["group"], str(row["n"]), row["seeds"]]
        cells += [_mean_sd(row, c) for c in ["final", "best"] + checkpoint_cols]
        table.add_row(*[Text(clean(c)) for c in cells])
    return table


def _mean_sd(row, col) -> str:
    from bevlog.groupcompare import mean_sd_text

    mean, sd = row[f"{col}_mean"], row[f"{col}_sd"]
    return mean_sd_text(mean if _num(mean) else None, sd if _num(sd) else None)


MAX_SETTING_COLUMNS = 6


def _settings_parts(diff, groups) -> list:
    """The settings that differ, before any curve: a setting × run table for a few runs,
    one line per run (or group) for many (rich renderables)."""
    from rich.table import Table
    from rich.text import Text

    parts: list = []
    view = by_groups(diff, groups) if has_groups(groups) else diff
    title = "settings that differ" + (
        " between groups (within a group: only the seed)"
        if view is not diff and all(g.how != "pattern" for g in groups)
        else ""
    )
    if not view.rows:
        if len(view.labels) > 1:
            parts.append(Text(f"{title}: none" + _config_caveat(view), style="bold"))
            parts.append(Text(""))
        return parts
    parts.append(Text(title + _config_caveat(view), style="bold"))
    if len(view.labels) <= MAX_SETTING_COLUMNS:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        table.add_column("setting", overflow="fold")
        for label in view.labels:
            table.add_column(clean(label), overflow="fold")
        for row in view.rows:
            table.add_row(*[Text(clean(c)) for c in [row.key] + [short(v) for v in row.values]])
        parts.append(table)
    else:  # many: each against the first, only what differs from it
        parts.append(
            Text(
                clean(f"{view.labels[0]} (the reference): ")
                + clean(" · ".join(f"{row.key}={short(row.values[0], 24)}" for row in view.rows))
            )
        )
        for k, label in enumerate(view.labels[1:], start=1):
            pairs = " · ".join(
                f"{row.key}={short(row.values[k], 24)}"
                for row in view.rows
                if comparable(row.values[k]) != comparable(row.values[0])
            )
            parts.append(Text(clean(f"{label}: {pairs or 'as the reference'}")))
    parts.append(Text(""))
    return parts


def _config_caveat(view) -> str:
    parts = []
    if view.without_config:
        parts.append(f"no config in the log of {', '.join(view.without_config)}")
    if view.truncated:
        parts.append(f"config of {', '.join(view.truncated)} cut at its first keys")
    return f" ({'; '.join(parts)})" if parts else ""


def _write_csv(comparisons):
    import pandas as pd

    frames = []
    for comp in comparisons:
        df = comp.stats.copy()
        df.insert(0, "align", comp.align)
        df.insert(0, "metric", comp.metric)
        df.columns = [c.replace("@", "at_") for c in df.columns]
        frames.append(df)
    with open_output(None, "csv") as f:
        pd.concat(frames, ignore_index=True).to_csv(f, index=False)


def _write_json(comparisons, diff, loaded):
    out = []
    for comp in comparisons:
        records = comp.stats.to_dict(orient="records")
        groups = None
        if comp.group_stats is not None:
            groups = [{k: _clean(v) for k, v in r.items()} for r in comp.group_stats.to_dict(orient="records")]
        out.append(
            {
                "metric": comp.metric,
                "align": comp.align,
                "smooth": comp.weight,
                "smoothed": comp.smoothed,
                "higher_is_better": comp.higher_is_better,
                "checkpoints": comp.checkpoints,
                "runs": [{k: _clean(v) for k, v in r.items()} for r in records],
                "groups": groups,
                "differences": comp.differences,
                "verdicts": comp.verdicts,
                "notes": comp.notes,
            }
        )
    body = {"settings": diff.to_dict() if diff is not None else None, "comparisons": out}
    envelope.write(envelope.envelope("compare", body, loaded.problems, loaded.notes))


def _clean(v):
    return None if isinstance(v, numbers.Real) and not math.isfinite(v) else v


def _num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _int(v) -> str:
    return str(int(v)) if _num(v) else "?"


def _short(v) -> str:
    if not _num(v):
        return "–"
    return f"{v:.2e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4) else f"{v:.3g}"
