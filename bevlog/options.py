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


def report_errors(errors: list[str]) -> None:
    """Print one line per unreadable input on stderr."""
    for line in errors:
        click.echo(f"error: {line}", err=True)


def use_color() -> bool:
    """Colour only on a TTY and never with NO_COLOR."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def load_or_exit(ctx: click.Context, paths, jobs=None):
    """Read PATH arguments; print errors; exit 2 when nothing at all could be read.

    Returns (runs, errors); commands exit 2 at the end when errors is not empty.
    """
    from bevlog.inputs import load_runs  # here, not at the top: it pulls in parsers

    runs, errors = load_runs(paths, jobs=jobs)  # None: bevlog.parallel.default_jobs
    report_errors(errors)
    if not runs:
        ctx.exit(2)
    return runs, errors


# --- alignment and smoothing, shared by `compare` and `report` --------------------------

def align_option(fn):
    return click.option(
        "--align", type=click.Choice(["epochs", "iters", "samples", "time"]), default="epochs",
        show_default=True,
        help="x axis: fractional epochs, global iterations, samples seen (step × total batch), "
             "or wall-clock hours. Never compare raw iterations across batch sizes.",
    )(fn)


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
