"""`bevlog report`: one self-contained, offline, interactive HTML file.

Order of the page: the runs (an index linking each run's own section when there are many),
the settings that differ, the comparison (the compare table and verdict of the total loss
and of the headline evaluation metric, with mean ± sd per seed group), the findings (when
given), then the panels — total loss, loss components, decoder layers, lr, grad_norm,
evaluation metrics — all on one alignment with one colour per run (per group of seeded
runs, drawn as mean ± sd). Curves are thinned for display (min/max per bucket); every
number in the tables is computed from all rows.

"Many" runs is more than MANY_RUNS: beyond the ten colours of the palette, colours repeat
and a reader finds a run by name, so each run also gets a section of its own (its facts,
its settings, its findings), linked from the run table.
"""

from __future__ import annotations

import numpy as np

from bevlog import __version__
from bevlog.align import AXIS_TITLE, train_x
from bevlog.compare import axis_notes, run_labels
from bevlog.output import write_atomic
from bevlog.report.components import components_panel
from bevlog.report.curves import grad_panel, loss_panel, lr_panel
from bevlog.report.downsample import DEFAULT_MAX_POINTS
from bevlog.report.evals import evals_panel
from bevlog.report.findings import add_findings, verdicts_html
from bevlog.report.html import assemble, esc
from bevlog.report.layers import layers_panel
from bevlog.report.sections import comparison_section, run_sections, section, settings_section
from bevlog.report.style import Context
from bevlog.report.tables import findings_table, run_table

MANY_RUNS = 10


def build_panels(ctx) -> list[dict]:
    return [loss_panel(ctx), components_panel(ctx), layers_panel(ctx), lr_panel(ctx), grad_panel(ctx), evals_panel(ctx)]


def make_context(
    runs,
    align: str = "epochs",
    weight: float = 0.6,
    overrides=None,
    max_points: int | None = DEFAULT_MAX_POINTS,
    groups=None,
):
    """Shared choices; fails early (AlignError) when a run cannot be aligned. `groups`:
    bevlog.groups.find_groups's result (None: every run alone)."""
    labels = run_labels(runs)
    overrides = dict(overrides or {})
    lo, hi = [], []
    for run in runs:
        x = train_x(run, align, overrides)
        x = x[np.isfinite(x)]
        if len(x):
            lo.append(float(x.min()))
            hi.append(float(x.max()))
    x_range = [min(lo), max(hi)] if lo else None
    if x_range and x_range[1] > x_range[0]:
        pad = 0.01 * (x_range[1] - x_range[0])
        x_range = [x_range[0] - pad, x_range[1] + pad]
    else:
        x_range = None
    return Context(
        runs=list(runs),
        labels=labels,
        align=align,
        weight=weight,
        overrides=overrides,
        max_points=max_points,
        x_range=x_range,
        groups=list(groups or []),
    )


def prepare(
    runs,
    align: str = "epochs",
    weight: float = 0.6,
    overrides=None,
    findings=None,
    max_points: int | None = DEFAULT_MAX_POINTS,
    groups=None,
):
    """(context, panels) with the findings drawn on them: what the HTML and the PNGs show."""
    names = [run.name for run in runs]
    if findings and len(set(names)) < len(names):
        # a Finding names its run; two runs of one name could not be told apart
        raise ValueError(
            "runs share a name, so findings cannot be placed; read them with "
            "parsers.read_paths, which names every run apart"
        )
    ctx = make_context(runs, align, weight, overrides, max_points, groups)
    panels = build_panels(ctx)
    if findings:
        add_findings(panels, findings, ctx)
    return ctx, panels


def build_report(
    runs,
    align: str = "epochs",
    weight: float = 0.6,
    overrides=None,
    findings=None,
    max_points: int | None = DEFAULT_MAX_POINTS,
    title: str = "bevlog report",
    groups=None,
) -> str:
    """The report as one HTML string. `findings`: a list of bevlog.findings.Finding or None
    (None = the diagnosis was not run; [] = it ran and found nothing)."""
    ctx, panels = prepare(runs, align, weight, overrides, findings, max_points, groups)
    return render(ctx, panels, findings, title)


def render(ctx, panels, findings=None, title: str = "bevlog report") -> str:
    many = len(ctx.runs) > MANY_RUNS
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in axis_notes(ctx.runs, ctx.labels, ctx.align, ctx.overrides))
    runs_note = f"{len(ctx.runs)} runs: each name links to the run's own section below." if many else ""
    sections = [_section("Runs", runs_note, run_table(ctx, link=many) + notes, "section-runs")]
    sections.append(settings_section(ctx))
    sections.append(comparison_section(ctx))
    if findings is not None:
        labels = {run.name: label for run, label in ctx.pairs()}
        count = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}, worst first; drawn on the curves."

        sections.append(
            _section(
                "Verdicts",
                "the root of each run's story and its one fix plan, as `bevlog diagnose` prints them",
                verdicts_html(ctx.runs, findings, labels),
                "section-verdicts",
            )
        )
        sections.append(_section("Findings", count, findings_table(findings, labels), "section-findings"))
    for p in panels:
        if p["figure"] is None:
            body = f'<p class="note"><em>{esc(p["message"])}</em></p>'
        else:
            body = f'<div class="plot" id="{esc(p["id"])}"></div>'
        sections.append(_section(p["title"], p["note"], body, "section-" + p["id"].removeprefix("panel-")))
    if many:
        sections.extend(run_sections(ctx, findings))
    smooth = f"EMA {ctx.weight:g}" if ctx.weight else "no smoothing"
    n = len(ctx.runs)
    grouped = ctx.multi_groups()
    in_groups = f" in {len(ctx.groups)} groups" if grouped else ""
    subtitle = (
        f"{n} run{'s' if n != 1 else ''}{in_groups} · x = {AXIS_TITLE[ctx.align]} · {smooth} · bevlog {__version__}"
    )
    drawn = [{"id": p["id"], "figure": p["figure"]} for p in panels if p["figure"] is not None]
    return assemble(title, subtitle, [s for s in sections if s], drawn)


def write_report(path, runs, **kwargs) -> int:
    """Write the report; returns its size in bytes."""
    return write_atomic(path, build_report(runs, **kwargs), "html", "the report")


def _section(title: str, note: str, body: str, sid: str) -> str:
    return section(title, note, body, sid)
