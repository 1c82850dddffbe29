"""Click options shared by several commands (sqlite-utils style decorators).

`bevlog --help` loads this module: `choose_align` imports bevlog.align (numpy) when called.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import click
from click.core import ParameterSource

import parsers
from bevlog.output import error, note, stdout_is_terminal

paths_argument = click.argument("paths", nargs=-1, required=True, metavar="PATH...")


def jobs_option(fn):
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes for reading many logs (default: all cores when there are many).",
    )(fn)


def report_errors(errors) -> None:
    """Print one line per unreadable input on stderr (control characters made visible)."""
    for line in errors:
        error(str(line))


def collect_notes(metas, skipped=()) -> list[str]:
    """What reading did beyond the obvious, one line each: files discovery skipped (a
    named pipe called `x.log`, a glob's match that is no log), rows a resume replaced."""
    return list(skipped) + [n for meta in metas for n in stitch_notes(meta)]


def report_notes(notes) -> None:
    """Print each note on stderr (`note: …`)."""
    for line in notes:
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
            out.append(
                f"{meta.get('name')}: {n} row(s) of {before.get('source')}{where} were logged again "
                f"after the resume in {after.get('source')}; the resumed rows are kept"
            )
    return out


def use_color() -> bool:
    """Colour on a terminal, or wherever FORCE_COLOR is set (force-color.org); never with
    NO_COLOR (no-color.org), which wins when both are set. Both count when not empty."""
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stdout_is_terminal()


def output_width(wide: bool = False) -> int | None:
    """Columns a table may use: the terminal's, else $COLUMNS, else 80; None with --wide
    (as wide as its cells)."""
    if wide:
        return None

    if stdout_is_terminal():
        try:
            return os.get_terminal_size(1).columns
        except OSError:
            pass
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


def wide_option(fn):
    return click.option(
        "--wide",
        is_flag=True,
        help="Every column, however wide (default: the columns that fit the terminal, or $COLUMNS, or 80).",
    )(fn)


class Loaded(NamedTuple):
    runs: list
    problems: list  # ParseErrors: one per unreadable input
    notes: list[str]  # files skipped that are no error, resumes that replaced rows


def load(paths, jobs=None) -> Loaded:
    """Read PATH arguments through `parsers.read_paths`; print problems and notes on stderr."""
    skipped: list[str] = []
    runs, problems = parsers.read_paths(paths, jobs=jobs, notes=skipped)
    notes = collect_notes((run.meta for run in runs), skipped)
    report_errors(problems)
    report_notes(notes)
    return Loaded(runs, problems, notes)


def nothing_read(ctx: click.Context, loaded, on_empty=None) -> None:
    """Exit 2 when no run at all could be read (after `on_empty(loaded)`, which writes a
    JSON envelope listing the problems); a PATH list that yielded neither a run nor a
    problem (every match skipped) says so."""
    if loaded.runs:
        return
    if not loaded.problems:
        error("no training log among the PATHs" + (" (see the notes above)" if loaded.notes else ""))
    if on_empty is not None:
        on_empty(loaded)
    ctx.exit(2)


# --- alignment and smoothing, shared by `compare` and `report` --------------------------


def align_option(fn):
    return click.option(
        "--align",
        type=click.Choice(["epochs", "iters", "samples", "time"]),
        default="epochs",
        show_default=True,
        help="x axis: fractional epochs, global iterations, samples seen (step × total batch), "
        "or wall-clock hours. Never compare raw iterations across batch sizes. The default "
        "falls back to iterations (with a note) when a run logs no epochs.",
    )(fn)


def choose_align(ctx: click.Context, align: str, runs, notes: list | None = None) -> str:
    """The default `--align epochs` becomes `iters` (a note on stderr, and in `notes`) when a
    run has no epochs; an explicit `--align epochs` stays, and fails later with the run named."""
    from bevlog.align import without_epochs

    if align != "epochs" or ctx.get_parameter_source("align") != ParameterSource.DEFAULT:
        return align
    missing = without_epochs(runs)
    if missing:
        line = f"{', '.join(missing)} logs no epochs (iteration-based); aligning by iterations (pass --align to choose)"
        note(line)
        if notes is not None:
            notes.append(line)
        return "iters"
    return align


def smooth_option(fn):
    return click.option(
        "--smooth",
        "smooth",
        type=click.FloatRange(0.0, 1.0, max_open=True),
        default=0.6,
        show_default=True,
        metavar="W",
        help="TensorBoard EMA weight for displayed/final values (0 = off).",
    )(fn)


def batch_option(fn):
    return click.option(
        "--batch",
        "batch",
        multiple=True,
        metavar="RUN=N",
        help="Total batch of a run whose log does not say it (needed for --align samples). Repeatable.",
    )(fn)


def group_options(fn):
    """--group REGEX / --no-groups, shared by `compare` and `report` (bevlog.groups)."""
    fn = click.option(
        "--no-groups",
        is_flag=True,
        help="Do not group runs that differ only in their seed; compare every run on its own.",
    )(fn)
    return click.option(
        "--group",
        "group",
        default=None,
        metavar="REGEX",
        help="Group runs by name instead: runs whose names give the same key are one group (the "
        "regex's capture groups, or the name with the match removed: '-s\\d+$' groups base-s0, "
        "base-s1 as base). Default: runs whose settings differ only in the seed.",
    )(fn)


def catalog_option(fn):
    """--catalog DIR, shared by `index` and `runs` (bevlog.catalog)."""
    return click.option(
        "--catalog",
        default=lambda: os.environ.get("BEVLOG_CATALOG", "bevlog-catalog"),
        show_default="$BEVLOG_CATALOG or ./bevlog-catalog",
        metavar="DIR",
        type=click.Path(file_okay=False),
        help="Catalog folder: catalog.duckdb, the Parquet frames, tables/.",
    )(fn)
