"""Click options shared by several commands (sqlite-utils style decorators)."""
from __future__ import annotations

import os
import sys

import click

paths_argument = click.argument("paths", nargs=-1, required=True, metavar="PATH...")


def jobs_option(fn):
    return click.option(
        "-j", "--jobs", type=click.IntRange(min=1), default=None,
        help="Worker processes for reading many logs (default: all cores when there are many).",
    )(fn)


def report_errors(errors) -> None:
    """Print one line per unreadable input on stderr (control characters made visible)."""
    from bevlog.output import error

    for line in errors:
        error(line)


def report_notes(metas, skipped=()) -> None:
    """Say on stderr what reading did beyond the obvious: files discovery skipped (a named
    pipe called `x.log`), rows a resume replaced."""
    from bevlog.output import note

    for line in list(skipped) + [n for meta in metas for n in stitch_notes(meta)]:
        note(line)


def stitch_notes(meta) -> list[str]:
    """One line per resume that replaced rows of the segment before it."""
    out = []
    segments = meta.get("segments") or []
    for before, after in zip(segments, segments[1:]):
        n = before.get("dropped_rows") or 0
        if n:
            at = after.get("first_step")
            where = f" from step {at:,.0f} on" if isinstance(at, (int, float)) else ""
            out.append(f"{meta.get('name')}: {n} row(s) of {before.get('source')}{where} were logged again "
                       f"after the resume in {after.get('source')}; the resumed rows are kept")
    return out


def use_color() -> bool:
    """Colour only on a TTY and never with NO_COLOR."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def load_or_exit(ctx: click.Context, paths, jobs=None):
    """Read PATH arguments through `parsers.read_paths`; print problems and notes; exit 2
    when nothing at all could be read.

    Returns (runs, problems); commands exit 2 at the end when problems is not empty.
    """
    import parsers  # here, not at the top: `bevlog --help` must not pay for it

    notes: list[str] = []
    runs, problems = parsers.read_paths(paths, jobs=jobs, notes=notes)
    report_errors(problems)
    report_notes((run.meta for run in runs), notes)
    if not runs:
        ctx.exit(2)
    return runs, problems


# --- alignment and smoothing, shared by `compare` and `report` --------------------------

def align_option(fn):
    return click.option(
        "--align", type=click.Choice(["epochs", "iters", "samples", "time"]), default="epochs",
        show_default=True,
        help="x axis: fractional epochs, global iterations, samples seen (step × total batch), "
             "or wall-clock hours. Never compare raw iterations across batch sizes. The default "
             "falls back to iterations (with a note) when a run logs no epochs.",
    )(fn)


def choose_align(ctx: click.Context, align: str, runs) -> str:
    """The default `--align epochs` becomes `iters` (said on stderr) when a run has no epochs;
    an explicit `--align epochs` stays, and fails later with the run named."""
    from click.core import ParameterSource

    from bevlog.align import without_epochs

    if align != "epochs" or ctx.get_parameter_source("align") != ParameterSource.DEFAULT:
        return align
    missing = without_epochs(runs)
    if missing:
        click.echo(f"note: {', '.join(missing)} logs no epochs (iteration-based); aligning by iterations "
                   "(pass --align to choose)", err=True)
        return "iters"
    return align


def smooth_option(fn):
    return click.option(
        "--smooth", "smooth", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.6,
        show_default=True, metavar="W",
        help="TensorBoard EMA weight for displayed/final values (0 = off).",
    )(fn)


def batch_option(fn):
    return click.option(
        "--batch", "batch", multiple=True, metavar="RUN=N",
        help="Total batch of a run whose log does not say it (needed for --align samples). Repeatable.",
    )(fn)


def group_options(fn):
    """--group REGEX / --no-groups, shared by `compare` and `report` (bevlog.groups)."""
    fn = click.option(
        "--no-groups", is_flag=True,
        help="Do not group runs that differ only in their seed; compare every run on its own.",
    )(fn)
    return click.option(
        "--group", "group", default=None, metavar="REGEX",
        help="Group runs by name instead: runs whose names give the same key are one group (the "
             "regex's capture groups, or the name with the match removed: '-s\\d+$' groups base-s0, "
             "base-s1 as base). Default: runs whose settings differ only in the seed.",
    )(fn)


def catalog_option(fn):
    """--catalog DIR, shared by `index` and `runs` (bevlog.catalog)."""
    return click.option(
        "--catalog", default=lambda: os.environ.get("BEVLOG_CATALOG", "bevlog-catalog"),
        show_default="$BEVLOG_CATALOG or ./bevlog-catalog", metavar="DIR", type=click.Path(file_okay=False),
        help="Catalog folder: catalog.duckdb, the Parquet frames, tables/.",
    )(fn)
