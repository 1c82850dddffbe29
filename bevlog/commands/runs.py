"""`bevlog runs [filters]`: list the runs of a catalog that `bevlog index` built."""
from __future__ import annotations

import sys

import click

from bevlog.diagnose import VERDICTS  # light: no pandas
from bevlog.options import catalog_option


@click.command(name="runs")
@catalog_option
@click.option("--verdict", "verdicts", multiple=True, type=click.Choice(VERDICTS),
              help="Runs with this verdict (repeatable: any of them).")
@click.option("--rule", "rules", multiple=True, metavar="RULE",
              help="Runs with a finding of this rule (repeatable: all of them).")
@click.option("--model", "models", multiple=True, metavar="TEXT",
              help="Runs whose config's model type contains TEXT (case-insensitive; repeatable: any).")
@click.option("--name", default=None, metavar="TEXT", help="Runs whose name contains TEXT.")
@click.option("--since", default=None, metavar="DATE", help="Runs launched on or after DATE (2024-01-31).")
@click.option("--until", default=None, metavar="DATE", help="Runs launched on or before DATE.")
@click.option("--metric", "metrics", multiple=True, metavar="EXPR",
              help="'bbox_mAP>0.3': the last evaluation of the metric passes (max(NAME), min(NAME): its "
                   "highest/lowest). Repeatable: all of them. Its value becomes a column.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many runs.")
@click.option("--problems", "show_problems", is_flag=True,
              help="List the inputs the last index could not read, instead of runs.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def command(ctx, catalog, verdicts, rules, models, name, since, until, metrics, limit, show_problems, fmt):
    """List indexed runs, newest first, filtered by verdict, rule, model, name, date and metric.

    \b
    Examples:
      bevlog runs --verdict broken --rule divergence --since 2024-01-01
      bevlog runs --metric 'bbox_mAP>0.3' --model PETR --format csv
      bevlog runs --problems
    """
    from bevlog.catalog import CatalogUnavailable, query_runs
    from bevlog.catalog.query import FilterError, problems
    from bevlog.catalog.store import CatalogError
    from bevlog.output import BadInput
    from bevlog.escape import clean

    try:
        if show_problems:
            for line in problems(catalog):
                click.echo(clean(line))
            return
        columns, rows = query_runs(catalog, verdicts=verdicts, rules=rules, models=models, name=name,
                                   since=since, until=until, metrics=metrics, limit=limit)
    except FilterError as exc:
        raise click.BadParameter(str(exc)) from None
    except (CatalogUnavailable, CatalogError) as exc:
        raise BadInput(str(exc)) from None
    if fmt == "json":
        _write_json(columns, rows)
    elif fmt == "csv":
        _write_csv(columns, rows)
    else:
        _print_table(columns, rows)
    click.echo(f"{len(rows)} run(s)", err=True)


def _write_json(columns, rows):
    import json

    from bevlog.findings import json_safe

    json.dump(json_safe([dict(zip(columns, r)) for r in rows]), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


def _write_csv(columns, rows):
    import csv

    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])


def _print_table(columns, rows):
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from bevlog.options import use_color
    from bevlog.escape import clean

    shown = [c for c in columns if c not in ("run_id", "n_errors", "n_warnings", "max_iters")]
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for c in shown:
        table.add_column(c, overflow="fold" if c in ("name", "run_dir") else "ellipsis",
                         justify="right" if c in ("total_batch", "lr", "max_epochs", "last_loss") else "left")
    index = {c: i for i, c in enumerate(columns)}
    for row in rows:
        table.add_row(*[Text(clean(_cell(c, row[index[c]]))) for c in shown])
    Console(no_color=not use_color(), highlight=False, width=None if sys.stdout.isatty() else 200).print(table)


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
