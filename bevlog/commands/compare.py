"""`bevlog compare`: align runs, smooth, and print a table of statistics and a verdict per pair."""
from __future__ import annotations

import math
import numbers

import click

from bevlog.options import (
    align_option,
    batch_option,
    choose_align,
    jobs_option,
    load,
    nothing_read,
    paths_argument,
    smooth_option,
    wide_option,
)
from bevlog.output import BadInput


@click.command(name="compare")
@paths_argument
@align_option
@click.option("-m", "--metric", "metrics", multiple=True, default=("loss",), show_default=True,
              help="Train column (loss, loss_cls, grad_norm …) or evaluation metric (NDS, "
                   "bbox_mAP …; a unique suffix is enough). Repeatable.")
@smooth_option
@batch_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@wide_option
@jobs_option
@click.pass_context
def command(ctx, paths, align, metrics, smooth, batch, fmt, wide, jobs):
    """Compare runs fairly on one x axis: final/best values, values at common checkpoints,
    noise normalised by √(batch × logging interval), late slope, and a sparkline.

    \b
    Examples:
      bevlog compare work_dirs/b8 work_dirs/b20 --align samples
      bevlog compare a.log b.log --metric loss --metric NDS --format csv
      bevlog compare old.log new.log --align samples --batch old=16
    """
    from bevlog.align import AlignError, overrides_for, parse_batch_overrides
    from bevlog.compare import MetricError, compare_runs, run_labels

    try:
        overrides = parse_batch_overrides(batch)
    except AlignError as exc:
        raise click.BadParameter(str(exc), param_hint="--batch") from None
    loaded = load(paths, jobs)
    nothing_read(ctx, loaded, on_empty=(lambda got: _write_json([], got)) if fmt == "json" else None)
    runs = loaded.runs
    align = choose_align(ctx, align, runs, loaded.notes)
    labels = run_labels(runs)
    comparisons = []
    try:
        overrides = overrides_for(runs, labels, overrides)
        for metric in metrics:
            comparisons.append(compare_runs(runs, metric, align, smooth, overrides, labels))
    except (AlignError, MetricError) as exc:
        raise BadInput(str(exc)) from None
    if fmt == "table":
        _print_tables(comparisons, wide)
    elif fmt == "csv":
        _write_csv(comparisons)
    else:
        _write_json(comparisons, loaded)
    if loaded.problems:
        ctx.exit(2)


# most wanted first: the narrow default shows the longest prefix of this that fits
PRIORITY = ["run", "final", "best", "batch", "lr", "curve", "noise·√(B·n)", "@", "slope", "rows", "noise", "lr/sample"]


def _print_tables(comparisons, wide: bool):
    from rich.text import Text

    from bevlog.align import AXIS_TITLE, UNIT
    from bevlog.compare import fmt_value
    from bevlog.escape import clean
    from bevlog.options import output_width, use_color
    from bevlog.output import open_output
    from bevlog.summary import fmt_lr
    from bevlog.table import fitting, left_out, make_table, render

    width = output_width(wide)
    parts = []
    for comp in comparisons:
        direction = "higher is better" if comp.higher_is_better else "lower is better"
        smooth = f"EMA {comp.weight:g}" if comp.weight else "no smoothing"
        parts.append(Text(f"{clean(comp.metric)} by {AXIS_TITLE[comp.align]} ({direction}; final/best/@ "
                          f"values smoothed with {smooth})", style="bold"))
        checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
        slope = f"slope/{UNIT[comp.align]}"
        order = (["run", "batch", "lr", "lr/sample", "rows", "final", "best"] + checkpoint_cols
                 + ["noise", "noise·√(B·n)", slope, "curve"])
        priority = [c for p in PRIORITY for c in ([slope] if p == "slope" else checkpoint_cols if p == "@" else [p])]
        rows = []
        for _, row in comp.stats.iterrows():
            cells = {"run": row["run"], "batch": _int(row["batch"]), "lr": fmt_lr(row["lr"]),
                     "lr/sample": fmt_lr(row["lr_per_sample"]), "rows": _int(row["rows"]),
                     "final": fmt_value(row["final"]), "best": fmt_value(row["best"]),
                     "noise": _short(row["noise"]), "noise·√(B·n)": _short(row["noise_norm"]),
                     slope: _short(row["slope"]), "curve": row["curve"]}
            cells.update({c: fmt_value(row[c]) for c in checkpoint_cols})
            rows.append(cells)
        shown = fitting(priority, rows, width, keep=3, max_width={"run": 28})
        parts.append(make_table([c for c in order if c in shown], rows,
                                right=set(order) - {"run", "curve"}, max_width={"run": 28}, fold={"run"}))
        parts += left_out(priority, shown)
        parts += [Text(clean(v)) for v in comp.verdicts]
        parts += [Text(clean(n), style="dim") for n in comp.notes]
        parts.append(Text(""))  # a blank line between metrics
    with open_output(None, "table") as f:
        f.write(render(parts, width, use_color()) + "\n")


def _write_csv(comparisons):
    import pandas as pd

    from bevlog.output import open_output

    frames = []
    for comp in comparisons:
        df = comp.stats.copy()
        df.insert(0, "align", comp.align)
        df.insert(0, "metric", comp.metric)
        df.columns = [c.replace("@", "at_") for c in df.columns]
        frames.append(df)
    with open_output(None, "csv") as f:
        pd.concat(frames, ignore_index=True).to_csv(f, index=False)


def _write_json(comparisons, loaded):
    from bevlog import envelope

    out = []
    for comp in comparisons:
        records = comp.stats.to_dict(orient="records")
        out.append({
            "metric": comp.metric, "align": comp.align, "smooth": comp.weight,
            "higher_is_better": comp.higher_is_better, "checkpoints": comp.checkpoints,
            "runs": [{k: _clean(v) for k, v in r.items()} for r in records],
            "verdicts": comp.verdicts, "notes": comp.notes,
        })
    envelope.write(envelope.envelope("compare", {"comparisons": out}, loaded.problems, loaded.notes))


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
