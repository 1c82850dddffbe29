"""`bevlog diagnose RUN...`: findings with evidence and a fix, a verdict per run.

Imports stay inside functions: `bevlog --help` loads this module and must not pay for pandas.
"""
from __future__ import annotations

import click

from bevlog.escape import clean, markdown_cell
from bevlog.options import Loaded, collect_notes, jobs_option, nothing_read, report_errors, report_notes, use_color

ICONS = {"error": "✗", "warning": "⚠", "info": "ℹ"}
STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
FORMATS = ("text", "json", "markdown")


def split_ids(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def choose_rules(rules: str | None, skip: str | None) -> list[str]:
    """--rules/--skip -> rule ids; unknown ids are a usage error (exit 2)."""
    from bevlog.rules import select

    try:
        return select(split_ids(rules), split_ids(skip))
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--rules/--skip") from None


def fails(diagnoses, fail_on: str | None) -> bool:
    from bevlog.findings import SEVERITY_RANK

    if not fail_on:
        return False
    return any(f.rank >= SEVERITY_RANK[fail_on] for d in diagnoses for f in d.findings)


@click.command(name="diagnose")
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for people, json for programs, markdown for PRs and issues.")
@click.option("--fail-on", type=click.Choice(["warning", "error"]), default=None,
              help="Exit 1 when any finding is at least this severe (CI gates); an input that "
                   "could not be read is exit 2 whatever the findings.")
@click.option("--rules", default=None, metavar="IDS", help="Comma-separated rule ids to run (default: all).")
@click.option("--skip", default=None, metavar="IDS", help="Comma-separated rule ids not to run.")
@click.option("--explain", default=None, metavar="RULE",
              help="Print what RULE looks at, its thresholds and why ('all' lists the rules), then exit.")
@click.option("--with-config", is_flag=True, help="With --format json: each run's config in its meta.")
@jobs_option
@click.pass_context
def command(ctx, paths, fmt, fail_on, rules, skip, explain, with_config, jobs):
    """Find what went wrong in each run and say how to fix it.

    Exit codes: 0 fine, 1 a finding at or above --fail-on, 2 bad usage or unreadable input.
    """
    from bevlog.output import open_output

    if explain:
        with open_output(None, "text") as f:
            f.write(explain_text(explain) + "\n")
        return
    if not paths:
        raise click.UsageError("give at least one PATH (a log file, a work dir, a glob or '-')")
    chosen = choose_rules(rules, skip)
    from bevlog.diagnose import diagnose_paths

    skipped: list[str] = []
    diagnoses, errors = diagnose_paths(paths, chosen, jobs=jobs, notes=skipped, with_config=with_config)
    notes = collect_notes((d.meta for d in diagnoses), skipped)
    report_errors(errors)
    report_notes(notes)
    loaded = Loaded(diagnoses, errors, notes)
    if fmt == "json":
        from bevlog import envelope

        envelope.write(envelope.envelope("diagnose", {"runs": [d.to_dict() for d in diagnoses]}, errors, notes))
    nothing_read(ctx, loaded)
    if fmt == "markdown":
        with open_output(None, "markdown") as f:
            f.write(render_markdown(diagnoses) + "\n")
    elif fmt == "text":
        with open_output(None, "text") as f:
            f.write(render_text(diagnoses) + "\n")
    if errors:
        ctx.exit(2)
    if fails(diagnoses, fail_on):
        ctx.exit(1)


def explain_text(rule_id: str) -> str:
    from bevlog.rules import RULE_IDS, explain, get_rule

    if rule_id == "all":
        width = max(map(len, RULE_IDS))
        return "\n".join(f"{r:<{width}}  {get_rule(r).summary}" for r in RULE_IDS)
    try:
        return explain(rule_id)
    except KeyError as exc:
        raise click.BadParameter(exc.args[0], param_hint="--explain") from None


# ---- rendering -------------------------------------------------------------------------

def where_text(finding, runner: str | None) -> str:
    """'epochs 6.2–9.8', 'epoch 21.0', 'iters 1,200–4,000' or 'whole run'."""
    if finding.start_step is None:
        return "whole run"
    if runner != "iter" and finding.start_epoch is not None:
        a, b = finding.start_epoch, finding.end_epoch
        if b is None or f"{a:.1f}" == f"{b:.1f}":
            return f"epoch {a:.1f}"
        return f"epochs {a:.1f}–{b:.1f}"
    a, b = finding.start_step, finding.end_step
    if b is None or a == b:
        return f"iter {a:,}"
    return f"iters {a:,}–{b:,}"


def verdict_hint(diagnosis) -> str:
    """What to do first: the crash it died of, else the run's fix plan ('fix: lr 0.05 → 0.017,
    grad_clip 35'), else the worst finding's rule. The plan, not a rule, names the changes."""
    if not diagnosis.findings:
        return "nothing to fix"
    worst = diagnosis.findings[0]
    if worst.severity == "info":
        n = len(diagnosis.findings)
        return f"nothing to fix ({n} note{'s' if n > 1 else ''})"
    if worst.rule == "log-integrity" and worst.evidence.get("exception_type"):
        return f"fix the {worst.evidence['exception_type']} it died of first"
    plan = diagnosis.plan.summary("warning")
    if plan:
        return f"fix: {plan}"
    return f"look at {worst.rule} first"


def render_text(diagnoses, color: bool | None = None, width: int | None = None) -> str:
    """Grouped by run, worst first; colour only on a TTY and never with NO_COLOR."""
    import io
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    color = use_color() if color is None else color
    width = width or max(100, shutil.get_terminal_size((120, 24)).columns)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color,
                      color_system="standard" if color else None, highlight=False, emoji=False,
                      width=width, soft_wrap=False)
    for k, d in enumerate(diagnoses):
        if k:
            console.print()
        console.print(Text(clean(d.summary), style="bold"))
        if d.findings:
            grid = Table.grid(padding=(0, 2))
            for _ in range(3):
                grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            runner = d.meta.get("runner")
            for f in d.findings:
                label = Text(f"  {ICONS[f.severity]} {f.severity:<7}", style=STYLES[f.severity])
                body = Text(clean(f.message))
                if f.fix and f.fix.text and f.severity != "info":
                    body.append(f"\nfix: {clean(f.fix.text)}", style="dim")
                grid.add_row(label, f.rule, where_text(f, runner), body)
            console.print(grid)
        style = {"broken": "bold red", "needs attention": "bold yellow", "healthy": "bold green"}[d.verdict]
        line = Text("verdict: ")
        line.append(d.verdict, style=style)
        line.append(f" — {clean(verdict_hint(d))}")
        console.print(line)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def render_markdown(diagnoses) -> str:
    cell = markdown_cell  # a log's text: one line, `|` escaped, no raw HTML

    out = []
    for d in diagnoses:
        out += [f"## {cell(d.run)}", "", cell(d.summary), ""]
        if d.findings:
            out += ["| severity | rule | where | finding | fix |", "|---|---|---|---|---|"]
            for f in d.findings:
                fix = f.fix.text if f.fix else ""
                out.append(f"| {ICONS[f.severity]} {f.severity} | `{f.rule}` | "
                           f"{where_text(f, d.meta.get('runner'))} | {cell(f.message)} | {cell(fix)} |")
            out.append("")
        out += [f"**verdict: {d.verdict}** — {cell(verdict_hint(d))}", ""]
    return "\n".join(out).rstrip() + "\n"
