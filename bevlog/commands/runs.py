"""`bevlog runs [filters]`: list the runs of a catalog that `bevlog index` built.

Output goes the one road of every command (bevlog.output): a table that fits the terminal
(bevlog.table; `--wide` for every column), csv, or the JSON envelope (bevlog.envelope,
`docs/schema/runs.json`). A catalog that cannot be opened is one line and exit 2 (in JSON
also a problem of the document).

The catalog (duckdb) and rich are imported when the command runs: `bevlog --help` loads this
module (docs/architecture.md, "Imports").
"""

from __future__ import annotations

import csv

import click

from bevlog import envelope
from bevlog.catalog import CatalogError, CatalogUnavailable, FilterError, index_problems, query_runs
from bevlog.diagnose import VERDICTS  # light: no pandas
from bevlog.escape import clean
from bevlog.options import catalog_option, output_width, use_color, wide_option
from bevlog.output import BadInput, open_output

HIDDEN = ("run_id", "n_errors", "n_warnings", "max_iters")  # in csv and json, not in the table
# most wanted first: the narrow default shows the longest prefix that fits; metric columns
# (from --metric) come right after the verdict
PRIORITY = ["name", "verdict", "worst_rule", "date", "last_loss", "model", "lr", "total_batch", "max_epochs", "run_dir"]
RIGHT = {"total_batch", "lr", "max_epochs", "last_loss"}
MAX_WIDTH = {"name": 32, "worst_rule": 20, "model": 20, "run_dir": 48}


@click.command(name="runs")
@catalog_option
@click.option(
    "--verdict",
    "verdicts",
    multiple=True,
    type=click.Choice(VERDICTS),
    help="Runs with this verdict (repeatable: any of them).",
)
@click.option(
    "--rule", "rules", multiple=True, metavar="RULE", help="Runs with a finding of this rule (repeatable: all of them)."
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="TEXT",
    help="Runs whose config's model type contains TEXT (case-insensitive; repeatable: any).",
)
@click.option("--name", default=None, metavar="TEXT", help="Runs whose name contains TEXT.")
@click.option("--since", default=None, metavar="DATE", help="Runs launched on or after DATE (2024-01-31).")
@click.option("--until", default=None, metavar="DATE", help="Runs launched on or before DATE.")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="EXPR",
    help="'bbox_mAP>0.3': the last evaluation of the metric passes (max(NAME), min(NAME): its "
    "highest/lowest). Repeatable: all of them. Its value becomes a column.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option(
    "--problems", "show_problems", is_flag=True, help="List the inputs the last index could not read, instead of runs."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv; json: the runs and the inputs the last index could not read.",
)
@wide_option
@click.pass_context
def command(ctx, catalog, verdicts, rules, models, name, since, until, metrics, limit, show_problems, fmt, wide):
    """List indexed runs, newest first, filtered by verdict, rule, model, name, date and metric.

    \b
    Examples:
      bevlog runs --verdict broken --rule divergence --since 2024-01-01
      bevlog runs --metric 'bbox_mAP>0.3' --model PETR --format csv
      bevlog runs --problems
    """
    try:
        unread = index_problems(catalog)
        columns, rows = [], []
        if not show_problems:
            columns, rows = query_runs(
                catalog,
                verdicts=verdicts,
                rules=rules,
                models=models,
                name=name,
                since=since,
                until=until,
                metrics=metrics,
                limit=limit,
            )
    except FilterError as exc:
        raise click.BadParameter(str(exc)) from None
    except (CatalogUnavailable, CatalogError) as exc:
        if fmt == "json":
            _write_json(catalog, [], [], [], problems=[_catalog_problem(catalog, exc)])
        raise BadInput(str(exc)) from None
    if fmt == "json":
        _write_json(catalog, columns, rows, unread)
    elif show_problems:
        _write_lines(unread, fmt)
    elif fmt == "csv":
        _write_csv(columns, rows)
    else:
        _write_table(columns, rows, wide)


def _catalog_problem(catalog, exc) -> dict:
    """A catalog that cannot be opened, as a problem object of the envelope."""
    return {"path": str(catalog), "line": None, "reason": "catalog", "message": str(exc)}


def _write_json(catalog, columns, rows, unread, problems=()):
    """The envelope (bevlog.envelope, docs/schema/runs.json): the runs, one object each with
    every column, and what the last index could not read."""
    body = {"catalog": str(catalog), "runs": [dict(zip(columns, r)) for r in rows], "index_problems": list(unread)}
    envelope.write({**envelope.envelope("runs", body), "problems": list(problems)})


def _write_lines(lines, fmt):
    """The index's problems, one per line (csv: one column); their text came from logs."""
    with open_output(None, "csv" if fmt == "csv" else "text") as f:
        if fmt == "csv":
            csv.writer(f, lineterminator="\n").writerows([["problem"], *[[line] for line in lines]])
        else:
            f.writelines(clean(line) + "\n" for line in lines)
            f.write(f"{len(lines)} input(s) the last index could not read\n")


def _write_csv(columns, rows):
    with open_output(None, "csv") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)


def _write_table(columns, rows, wide: bool):
    from rich.text import Text

    from bevlog.table import fitting, left_out, make_table, render

    metric_columns = [c for c in columns if c not in PRIORITY and c not in HIDDEN]
    priority = PRIORITY[:2] + metric_columns + PRIORITY[2:]
    cells = [{c: _cell(c, v) for c, v in zip(columns, row)} for row in rows]
    width = output_width(wide)
    max_width = None if wide else MAX_WIDTH
    shown = fitting(priority, cells, width, keep=2, max_width=max_width)
    order = [c for c in columns if c in shown]
    table = make_table(order, cells, right=RIGHT | set(metric_columns), max_width=max_width)
    count = Text(f"{len(rows)} run(s)", style="dim")
    with open_output(None, "table") as f:
        f.write(render([table, *left_out(priority, shown), count], width, use_color()) + "\n")


def _cell(column, value) -> str:
    if value is None:
        return "–"
    if column == "date":
        return str(value)[:16]
    if column == "lr" and isinstance(value, float):
        return f"{value:.1e}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
