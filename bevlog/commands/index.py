"""`bevlog index WORK_DIR...`: keep a run catalog (DuckDB + Parquet) up to date.

Progress goes to stderr; the one line of result goes to stdout by the road of every command
(bevlog.output), so a closed pipe is 141 and a full disk one line and 2.

The catalog (duckdb, pandas, pyarrow) is imported when the command runs: `bevlog --help` loads
this module (docs/architecture.md, "Imports").
"""

from __future__ import annotations

import os

import click

from bevlog.catalog import CatalogError, CatalogUnavailable, index
from bevlog.escape import clean
from bevlog.options import catalog_option, jobs_option, paths_argument
from bevlog.output import BadInput, error, note, open_output


@click.command(name="index")
@paths_argument
@catalog_option
@jobs_option
@click.pass_context
def command(ctx, paths, catalog, jobs):
    """Index the runs under WORK_DIRs into a catalog: runs, verdicts, findings and evaluations
    in an embedded DuckDB database, every run's tidy frames as a hive-partitioned Parquet
    dataset beside it. Only files that changed since the last index are read again (size,
    mtime and a fingerprint of their head); runs whose files are gone drop out.

    \b
    Examples:
      bevlog index work_dirs/
      bevlog index /data/sweeps/* --catalog /data/bevlog-catalog
      bevlog runs --verdict broken --rule divergence --since 2024-01-01
    """
    missing = [p for p in paths if not os.path.exists(p)]
    for p in missing:
        error(f"{p}: no such file or directory")
    present = [p for p in paths if os.path.exists(p)]
    if not present:
        ctx.exit(2)
    try:
        summary = index(present, catalog, jobs=jobs, say=note)
    except (CatalogUnavailable, CatalogError) as exc:
        raise BadInput(str(exc)) from None
    for line in summary.problems:
        error(line)
    with open_output(None, "text") as f:
        f.write(clean(_result_line(catalog, summary)) + "\n")
    if summary.problems or missing:
        ctx.exit(2)


def _result_line(catalog, summary) -> str:
    if summary.up_to_date:
        return (
            f"catalog {catalog} up to date: {summary.runs} run(s), {summary.files} file(s) unchanged "
            f"({summary.seconds:.1f} s)"
        )
    return (
        f"catalog {catalog}: {summary.runs} run(s); read {summary.read} changed candidate run(s), kept "
        f"{summary.kept}, removed {summary.removed_runs} run(s) ({summary.changed_files} file(s) changed, "
        f"{summary.seconds:.1f} s)"
    )
