"""`bevlog index WORK_DIR...`: keep a run catalog (DuckDB + Parquet) up to date."""
from __future__ import annotations

import click

from bevlog.options import catalog_option, jobs_option, paths_argument


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
    import os

    from bevlog.catalog import CatalogUnavailable, index
    from bevlog.catalog.store import CatalogError
    from bevlog.escape import clean
    from bevlog.output import BadInput, error, note

    missing = [p for p in paths if not os.path.exists(p)]
    for p in missing:
        error(f"{p}: no such file or directory")
    present = [p for p in paths if os.path.exists(p)]
    if not present:
        ctx.exit(2)
    try:
        summary = index(present, catalog, jobs=jobs, say=lambda line: note(line))
    except (CatalogUnavailable, CatalogError) as exc:
        raise BadInput(str(exc)) from None
    for line in summary.problems:
        error(line)
    # the command's result, on stdout; progress went to stderr
    if summary.up_to_date:
        click.echo(clean(f"catalog {catalog} up to date: {summary.runs} run(s), {summary.files} file(s) "
                         f"unchanged ({summary.seconds:.1f} s)"))
    else:
        click.echo(clean(f"catalog {catalog}: {summary.runs} run(s); read {summary.read} changed candidate "
                         f"run(s), kept {summary.kept}, removed {summary.removed_runs} run(s) "
                         f"({summary.changed_files} file(s) changed, {summary.seconds:.1f} s)"))
    if summary.problems or missing:
        ctx.exit(2)
