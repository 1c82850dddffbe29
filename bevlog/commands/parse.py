"""`bevlog parse`: a summary table per run, or the tidy frames as csv/json/parquet."""
from __future__ import annotations

import sys

import click

from bevlog.options import jobs_option, load_or_exit, paths_argument

FRAMES = ("train", "layers", "evals")


@click.command(name="parse")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table",
              show_default=True, help="table: one summary row per run; csv/json/parquet: the tidy frame.")
@click.option("--frame", type=click.Choice(FRAMES), default="train", show_default=True,
              help="Which frame --format csv|json|parquet writes.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write data here instead of stdout (required for parquet).")
@jobs_option
@click.pass_context
def command(ctx, paths, fmt, frame, out, jobs):
    """Read training logs and summarise each run.

    PATH may be a log file (.log, .log.json, scalars.json, console capture, .gz), a work dir
    (searched recursively, one run per run directory), a glob, or - for stdin.

    \b
    Examples:
      bevlog parse work_dirs/petr/
      bevlog parse 'work_dirs/*/20*.log' --format csv --frame evals > evals.csv
      bevlog parse run.log.json --format parquet -o train.parquet
    """
    if fmt == "parquet" and not out:
        raise click.UsageError("--format parquet needs --out FILE")
    runs, errors = load_or_exit(ctx, paths, jobs)
    if fmt == "table":
        _print_table(runs)
    else:
        _write_frame(runs, frame, fmt, out)
        if out:
            click.echo(f"wrote {frame} frame of {len(runs)} run(s) to {out}", err=True)
    if errors:
        ctx.exit(2)


def _write_frame(runs, frame, fmt, out):
    """csv/json to stdout, or any format to `out` atomically (a reader of `out` never
    sees half a file). Text from the logs is data here, written as the format escapes it."""
    import pandas as pd

    from bevlog.output import atomic_path

    df = pd.concat([getattr(r, frame) for r in runs], ignore_index=True)
    if not out:
        if fmt == "csv":
            df.to_csv(sys.stdout, index=False)
        else:  # JSON Lines: one object per row, NaN -> null
            sys.stdout.write(df.to_json(orient="records", lines=True, double_precision=10))
        return
    with atomic_path(out) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        elif fmt == "csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, double_precision=10)


def _print_table(runs):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from bevlog.options import use_color
    from bevlog.output import clean
    from bevlog.summary import fmt_lr, fmt_num, iteration_time_text, run_summary

    table = Table(show_edge=False, header_style="bold")
    for col in ["run", "format", "runner", "length", "rows", "evals", "batch", "lr range", "last loss",
                "best loss", "s/iter", "layers", "aux", "ended", "skipped"]:
        table.add_column(col, justify="right" if col in {"rows", "evals", "skipped"} else "left",
                         max_width=32 if col in {"run", "ended"} else None, overflow="ellipsis",
                         no_wrap=col in {"run", "ended"})
    for run in runs:
        s = run_summary(run)
        aux = {True: "yes", False: "no"}.get(s["aux"], "?")
        cells = [
            s["run"], s["format"] or "?", s["runner"] or "?", s["length"], str(s["rows"]), str(s["evals"]), s["batch"],
            f"{fmt_lr(s['lr_min'])}–{fmt_lr(s['lr_max'])}", fmt_num(s["last_loss"]),
            fmt_num(s["best_loss"]), iteration_time_text(s), str(s["decoder_layers"] or "?"), aux, str(s["ended"] or "?"),
            str(s["skipped"]),
        ]
        table.add_row(*[Text(clean(c)) for c in cells])  # Text: a log's `[b]` is not markup
    color = use_color()
    console = Console(no_color=not color, highlight=False, width=None if sys.stdout.isatty() else 240)
    console.print(table)
