"""`bevlog parse`: a summary table per run, or the tidy frames as csv/json/parquet.

Imports of pandas, rich and the analysis stay inside functions: `bevlog --help` loads this
module (docs/architecture.md, "Imports").
"""

from __future__ import annotations

import click

from bevlog import envelope
from bevlog.options import jobs_option, load, nothing_read, output_width, paths_argument, use_color, wide_option
from bevlog.output import atomic_path, open_output, say

FRAMES = ("train", "layers", "evals")
COLUMNS = [
    "run",
    "format",
    "runner",
    "length",
    "rows",
    "evals",
    "batch",
    "lr range",
    "last loss",
    "best loss",
    "s/iter",
    "layers",
    "aux",
    "ended",
    "skipped",
]
# most wanted first: the narrow default shows the longest prefix of this that fits
PRIORITY = [
    "run",
    "length",
    "batch",
    "last loss",
    "lr range",
    "ended",
    "rows",
    "skipped",
    "format",
    "best loss",
    "evals",
    "layers",
    "aux",
    "s/iter",
    "runner",
]
RIGHT = {"rows", "evals", "skipped"}
MAX_WIDTH = {"run": 28, "ended": 24}


@click.command(name="parse")
@paths_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="table: one summary row per run; csv/json/parquet: the tidy frame "
    "(json: the run summaries, problems and notes too).",
)
@click.option(
    "--frame",
    type=click.Choice(FRAMES),
    default="train",
    show_default=True,
    help="Which frame --format csv|json|parquet writes.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write data here instead of stdout (required for parquet).",
)
@wide_option
@jobs_option
@click.pass_context
def command(ctx, paths, fmt, frame, out, wide, jobs):
    """Read training logs and summarise each run.

    PATH may be a log file — mmcv/mmengine .log, .log.json and scalars.json, their console
    captures (nohup.out, slurm-*.out), a DETR-style log.txt, DETR's MetricLogger console output,
    detectron2/detrex metrics.json and its console log, TensorBoard event files (the
    'tensorboard' extra), an ultralytics results.csv (read when named: a directory search
    skips csv files), any of them .gz — a work dir (searched recursively, one run per run
    directory), a glob, or - for stdin.

    \b
    Examples:
      bevlog parse work_dirs/petr/
      bevlog parse 'work_dirs/*/20*.log' --format csv --frame evals > evals.csv
      bevlog parse run.log.json --format parquet -o train.parquet
    """
    if fmt == "parquet" and not out:
        raise click.UsageError("--format parquet needs --out FILE")
    loaded = load(paths, jobs)
    nothing_read(ctx, loaded, on_empty=(lambda got: _write_json(got, frame, out)) if fmt == "json" else None)
    if fmt == "table":
        _print_table(loaded.runs, wide)
    elif fmt == "json":
        _write_json(loaded, frame, out)
    else:
        _write_frame(loaded.runs, frame, fmt, out)
    if out:
        say(f"wrote {frame} frame of {len(loaded.runs)} run(s) to {out}")
    if loaded.problems:
        ctx.exit(2)


def _frame(runs, frame):
    import pandas as pd

    return pd.concat([getattr(r, frame) for r in runs], ignore_index=True)


def _write_frame(runs, frame, fmt, out):
    """csv to stdout or `out`, parquet to `out`; a file appears whole (bevlog.output).
    A log's text is data here: parquet keeps it exact, csv makes control characters
    visible (bevlog.escape)."""
    df = _frame(runs, frame)
    if fmt == "parquet":
        with atomic_path(out) as tmp:
            df.to_parquet(tmp, index=False)
        return
    with open_output(out, "csv") as f:
        df.to_csv(f, index=False)


def _write_json(loaded, frame, out):
    """The envelope (bevlog.envelope) with the run summaries, then the frame's rows."""
    from bevlog.summary import run_summary

    rows = None
    if loaded.runs:
        text = _frame(loaded.runs, frame).to_json(orient="records", lines=True, double_precision=10)
        rows = text.splitlines()  # one JSON object per line: a row never holds a raw newline
    doc = envelope.envelope(
        "parse", {"frame": frame, "runs": [run_summary(r) for r in loaded.runs]}, loaded.problems, loaded.notes
    )
    envelope.write(doc, out, rows=rows or [])


def _print_table(runs, wide: bool):
    from bevlog.summary import fmt_lr, fmt_num, iteration_time_text, run_summary, short_length

    rows = []
    for run in runs:
        s = run_summary(run)
        rows.append(
            {
                "run": s["run"],
                "format": s["format"] or "?",
                "runner": s["runner"] or "?",
                "length": short_length(s["length"]),
                "rows": str(s["rows"]),
                "evals": str(s["evals"]),
                "batch": s["batch"],
                "lr range": f"{fmt_lr(s['lr_min'])}–{fmt_lr(s['lr_max'])}",
                "last loss": fmt_num(s["last_loss"]),
                "best loss": fmt_num(s["best_loss"]),
                "s/iter": iteration_time_text(s),
                "layers": str(s["decoder_layers"] or "?"),
                "aux": {True: "yes", False: "no"}.get(s["aux"], "?"),
                "ended": str(s["ended"] or "?"),
                "skipped": str(s["skipped"]),
            }
        )
    from bevlog.table import fitting, left_out, make_table, render

    width = output_width(wide)
    shown = fitting(PRIORITY, rows, width, keep=2, max_width=MAX_WIDTH)
    table = make_table([c for c in COLUMNS if c in shown], rows, right=RIGHT, max_width=MAX_WIDTH)
    with open_output(None, "table") as f:
        f.write(render([table, *left_out(PRIORITY, shown)], width, use_color()) + "\n")
