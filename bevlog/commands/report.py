"""`bevlog report`: one self-contained interactive HTML report, findings drawn on the curves.

Imports of the report (plotly, pandas) stay inside functions: `bevlog --help` loads this
module (docs/architecture.md, "Imports").
"""

from __future__ import annotations

import click

from bevlog.groups import GroupError, find_groups
from bevlog.options import (
    align_option,
    batch_option,
    choose_align,
    group_options,
    jobs_option,
    load,
    nothing_read,
    paths_argument,
    smooth_option,
)
from bevlog.output import BadInput, say, write_atomic


@click.command(name="report")
@paths_argument
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="HTML file to write (self-contained: works offline, makes no network request).",
)
@align_option
@smooth_option
@batch_option
@click.option("--no-findings", is_flag=True, help="Do not run the diagnosis (faster; no findings drawn).")
@click.option(
    "--png",
    "png_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Also write one PNG per panel into DIR (needs kaleido ≥ 1 and a Chromium).",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Points drawn per curve (min/max per bucket, spikes kept); statistics use every row.",
)
@click.option("--title", default="bevlog report", show_default=True, help="Page title.")
@group_options
@jobs_option
@click.pass_context
def command(ctx, paths, out, align, smooth, batch, no_findings, png_dir, max_points, title, group, no_groups, jobs):
    """Write an interactive HTML report: run table, the settings that differ, the compare table
    and verdict, findings, total loss (raw and smoothed), loss components, per-decoder-layer
    losses, lr, grad_norm and evaluation metrics, all on one x axis with one colour per run;
    runs that differ only in their seed drawn as one group (mean ± sd).

    \b
    Examples:
      bevlog report work_dirs/b8 work_dirs/b20 --align samples -o b8_vs_b20.html
      bevlog report run.log -o run.html --png figures/
    """
    from bevlog.align import AlignError, overrides_for, parse_batch_overrides
    from bevlog.compare import run_labels
    from bevlog.report import prepare, render

    try:
        overrides = parse_batch_overrides(batch)
    except AlignError as exc:
        raise click.BadParameter(str(exc), param_hint="--batch") from None
    if png_dir:  # say it before the work, not after
        from bevlog.report.png import PngUnavailable, check_png_support

        try:
            check_png_support()
        except PngUnavailable as exc:
            raise BadInput(str(exc)) from None
    loaded = load(paths, jobs)
    nothing_read(ctx, loaded)
    runs, errors = loaded.runs, loaded.problems
    align = choose_align(ctx, align, runs)
    labels = run_labels(runs)
    try:
        groups = find_groups(runs, labels, pattern=group, auto=not no_groups)
    except GroupError as exc:
        raise click.BadParameter(str(exc), param_hint="--group") from None
    findings = None if no_findings else _diagnose(runs)
    try:
        overrides = overrides_for(runs, labels, overrides)
        report_ctx, panels = prepare(runs, align, smooth, overrides, findings, max_points, groups)
    except AlignError as exc:
        raise BadInput(str(exc)) from None
    html = render(report_ctx, panels, findings, title)

    size = write_atomic(out, html, "html", "the report")  # a failed write: one line, exit 2
    note = "" if findings is None else f", {len(findings)} finding(s)"
    say(f"wrote {out} ({size / 1e6:.1f} MB, {len(runs)} run(s){note})")
    if png_dir:
        from bevlog.report.png import PngUnavailable, write_pngs

        try:
            written = write_pngs(panels, png_dir)
        except PngUnavailable as exc:
            raise BadInput(str(exc)) from None
        say(f"wrote {len(written)} PNG(s) to {png_dir}")
    if errors:
        ctx.exit(2)


def _diagnose(runs):
    """Findings for every run when the diagnosis is available; None when it is not."""
    try:
        from bevlog.diagnose import diagnose_run
    except ImportError:  # the diagnosis is optional for the report
        return None
    findings = []
    for run in runs:
        findings.extend(diagnose_run(run))
    return findings
