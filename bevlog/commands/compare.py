"""`bevlog compare`: align runs, smooth, and print a table of statistics and a verdict per pair."""
from __future__ import annotations

import json
import math
import numbers
import sys

import click

from bevlog.options import (align_option, batch_option, choose_align, jobs_option, load_or_exit,
                            paths_argument, smooth_option)
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
@jobs_option
@click.pass_context
def command(ctx, paths, align, metrics, smooth, batch, fmt, jobs):
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
    runs, errors = load_or_exit(ctx, paths, jobs)
    align = choose_align(ctx, align, runs)
    labels = run_labels(runs)
    comparisons = []
    try:
        overrides = overrides_for(runs, labels, overrides)
        for metric in metrics:
            comparisons.append(compare_runs(runs, metric, align, smooth, overrides, labels))
    except (AlignError, MetricError) as exc:
        raise BadInput(str(exc)) from None
    if fmt == "table":
        _print_tables(comparisons)
    elif fmt == "csv":
        _write_csv(comparisons)
    else:
        _write_json(comparisons)
    if errors:
        ctx.exit(2)


def _print_tables(comparisons):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from bevlog.align import AXIS_TITLE, UNIT
    from bevlog.compare import fmt_value
    from bevlog.options import use_color
    from bevlog.output import clean
    from bevlog.summary import fmt_lr

    console = Console(no_color=not use_color(), highlight=False,
                      width=None if sys.stdout.isatty() else 220)
    for comp in comparisons:
        direction = "higher is better" if comp.higher_is_better else "lower is better"
        smooth = f"EMA {comp.weight:g}" if comp.weight else "no smoothing"
        console.print(Text(f"{comp.metric} by {AXIS_TITLE[comp.align]} ({direction}; final/best/@ "
                           f"values smoothed with {smooth})", style="bold"))
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        checkpoint_cols = [c for c in comp.stats.columns if c.startswith("@")]
        headers = (["run", "batch", "lr", "lr/sample", "rows", "final", "best"] + checkpoint_cols
                   + ["noise", "noise·√(B·n)", f"slope/{UNIT[comp.align]}", "curve"])
        for h in headers:
            table.add_column(h, justify="left" if h in ("run", "curve") else "right",
                             overflow="fold" if h == "run" else "ellipsis")
        for _, row in comp.stats.iterrows():
            cells = [row["run"], _int(row["batch"]), fmt_lr(row["lr"]), fmt_lr(row["lr_per_sample"]),
                     _int(row["rows"]), fmt_value(row["final"]), fmt_value(row["best"])]
            cells += [fmt_value(row[c]) for c in checkpoint_cols]
            cells += [_short(row["noise"]), _short(row["noise_norm"]), _short(row["slope"]), row["curve"]]
            table.add_row(*[Text(clean(c)) for c in cells])  # run names come from the logs
        console.print(table)
        for verdict in comp.verdicts:
            console.print(Text(clean(verdict)))
        for note in comp.notes:
            console.print(Text(clean(note), style="dim"))
        console.print()


def _write_csv(comparisons):
    import pandas as pd

    frames = []
    for comp in comparisons:
        df = comp.stats.copy()
        df.insert(0, "align", comp.align)
        df.insert(0, "metric", comp.metric)
        df.columns = [c.replace("@", "at_") for c in df.columns]
        frames.append(df)
    pd.concat(frames, ignore_index=True).to_csv(sys.stdout, index=False)


def _write_json(comparisons):
    from bevlog.findings import json_safe

    out = []
    for comp in comparisons:
        records = comp.stats.to_dict(orient="records")
        out.append({
            "metric": comp.metric, "align": comp.align, "smooth": comp.weight,
            "higher_is_better": comp.higher_is_better, "checkpoints": comp.checkpoints,
            "runs": [{k: _clean(v) for k, v in r.items()} for r in records],
            "verdicts": comp.verdicts, "notes": comp.notes,
        })
    json.dump(json_safe(out), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


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
